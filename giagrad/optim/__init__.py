"""giagrad.optim: optimizers and learning-rate schedules.

Examples
--------
>>> from giagrad import optim
>>> optimizer = optim.Adam(model.parameters(), lr=1e-3)
>>> scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=100)
>>> for x, y in loader:
...     optimizer.zero_grad()
...     loss_fn(model(x), y).backward()
...     optimizer.step()
...     scheduler.step()
"""

from giagrad.optim import lr_scheduler  # noqa: F401
from giagrad.optim.adadelta import Adadelta
from giagrad.optim.adagrad import Adagrad
from giagrad.optim.adam import Adam, Adamax, AdamW, NAdam
from giagrad.optim.lion import Lion
from giagrad.optim.optimizer import Optimizer
from giagrad.optim.rmsprop import RMSprop
from giagrad.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "Adamax", "NAdam", "RMSprop", "Adagrad", "Adadelta", "Lion"]
