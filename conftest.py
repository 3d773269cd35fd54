"""What the docstring examples of the package may assume when they run as doctests.

The examples are written as a user would type them after the usual imports, and some continue
from a model and an optimizer already made: the names below provide those. Each example runs in
a fresh temporary folder, so the files it writes go nowhere.
"""

import numpy as np
import pytest

# Imported before pytest collects the package's modules for their doctests: pytest then finds
# each module in sys.modules instead of executing its file a second time, which would make a
# second Tensor class (``giagrad.tensor`` is also the name of a function, so the module cannot be
# reached as an attribute of the package).
import giagrad  # noqa: F401


@pytest.fixture(autouse=True)
def _doctest_namespace(request, doctest_namespace, tmp_path, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        return
    from giagrad import Function, Tensor, nn, optim
    from giagrad.data import DataLoader, TensorDataset
    from giagrad.data.transforms import Compose, Normalize, ToTensor
    from giagrad.nn import functional as F
    from giagrad.nn import init

    monkeypatch.chdir(tmp_path)
    giagrad.manual_seed(0)

    def MLP():  # noqa: N802 (the class name the examples use)
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    model, loss_fn = MLP(), nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    x, y = giagrad.randn(3, 4), giagrad.randint(0, 2, (3,))
    loader = DataLoader(TensorDataset(giagrad.randn(12, 4), giagrad.randint(0, 2, (12,))), batch_size=4)

    def validation_loss():
        with giagrad.no_grad():
            return loss_fn(model(x), y).item()

    def train_one_epoch():
        for inputs, targets in loader:
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()
            optimizer.step()

    doctest_namespace.update(
        np=np, giagrad=giagrad, nn=nn, F=F, init=init, optim=optim, Tensor=Tensor, Function=Function,
        DataLoader=DataLoader, TensorDataset=TensorDataset, Compose=Compose, Normalize=Normalize,
        ToTensor=ToTensor, MLP=MLP, model=model, loss_fn=loss_fn, optimizer=optimizer, x=x, y=y, loader=loader,
        loss=loss_fn(model(x), y), train_one_epoch=train_one_epoch, validation_loss=validation_loss,
    )
