"""giagrad.train: a training loop with progress bars, metrics, history, callbacks and checkpoints.

Examples
--------
>>> from giagrad.train import Trainer, EarlyStopping, ModelCheckpoint
>>> trainer = Trainer(model, optimizer, nn.CrossEntropyLoss(), metrics=["accuracy"],
...                   callbacks=[EarlyStopping(patience=3), ModelCheckpoint("runs/demo")])  # doctest: +SKIP
>>> history = trainer.fit(train_loader, val_loader, epochs=10)                           # doctest: +SKIP
>>> history.plot("curves.png")                                                           # doctest: +SKIP
"""

from giagrad.train.callbacks import Callback, EarlyStopping, ModelCheckpoint
from giagrad.train.history import History
from giagrad.train.metrics import Accuracy, BatchMean, Metric, as_metric
from giagrad.train.trainer import Trainer

__all__ = ["Trainer", "History", "Callback", "EarlyStopping", "ModelCheckpoint", "Metric", "Accuracy",
           "BatchMean", "as_metric"]
