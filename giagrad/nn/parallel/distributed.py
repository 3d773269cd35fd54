"""``DistributedDataParallel``: one model replica per process, gradients averaged across processes.

Each process (rank) trains the same model on its own share of every batch. At construction
rank 0's parameters and buffers are copied to every rank; in each backward the gradients are
averaged across ranks, so every rank takes the same step and the replicas stay
identical, bit for bit. With a global batch of B samples split into N shares of B/N, the
average of the N shares' mean-loss gradients is the gradient of the mean loss over the whole
batch: training follows the single-process run with batch B (up to float32 rounding).

When the gradients are averaged
-------------------------------
As in PyTorch, inside ``loss.backward()``: when it returns, every rank's ``.grad`` holds the
average, so code between ``backward`` and ``optimizer.step()`` (``clip_grad_norm_``, logging a
gradient norm) sees what one process with the global batch would see::

    loss_fn(model(x), y).backward()   # every rank's gradients are averaged when this returns
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()

Each parameter carries a post-accumulate-grad hook (``Tensor.register_post_accumulate_grad_hook``);
when every parameter of a bucket has its gradient, the bucket is all-reduced, and the buckets go
in a fixed order on every rank (so that the ranks' messages always match).

A parameter that gets no gradient in a backward (a branch the forward did not take) leaves its
bucket, and the buckets after it, waiting: they are averaged at the next ``optimizer.step()``
(an optimizer step pre-hook, see ``giagrad.optim.optimizer.register_optimizer_step_pre_hook``)
or :meth:`DistributedDataParallel.reduce_gradients`, with the missing gradients counted as zeros.
(The next forward does it too, before anything else.) Nothing hangs, but until then those
gradients are not averaged (and some may be in the middle of it): a model whose parameters may
go unused calls ``reduce_gradients()`` right after ``backward``, before reading or changing
them (as ``Trainer`` does). A one-time warning says when the step had to do it. PyTorch asks
for ``find_unused_parameters=True`` in this case; here nothing is to be set.

One backward per forward is averaged: a second backward through the same forward's graph
(``retain_graph=True``) raises a RuntimeError, as PyTorch's DDP does; run the forward again.
(A backward through ``ddp.module(x)``, bypassing the wrapper, after an averaged one raises too.)

Buckets
-------
The gradients are averaged in a few large messages, not one per parameter: the parameters are
grouped by dtype and, from the last registered to the first (the order backward finishes them
in, as PyTorch does), into buckets of at most ``bucket_cap_mb`` megabytes, one all-reduce each.
When the gradients of a bucket already lie end to end in one array (an optimizer keeps them so:
see ``giagrad.optim.Optimizer``), the reduction runs on that memory directly; otherwise they are
copied into the bucket's flat buffer and back.

Each bucket's all-reduce is non-blocking: started as soon as the bucket is complete, waited for
when the last gradient of the backward is in, so the ranks wait for each other once per
backward rather than once per bucket (with several buckets, blocking ones made the 2-rank epoch
of ``benchmarks/bench_ddp.py`` up to twice as slow). The rest of backward runs meanwhile.
"""

from __future__ import annotations

import contextlib
import warnings
import weakref
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from giagrad import distributed as dist
from giagrad.grad_mode import is_grad_enabled
from giagrad.nn.module import Module, Parameter
from giagrad.tensor import Tensor

__all__ = ["DistributedDataParallel"]

_MODULE_PREFIX = "module."


class _GradientBucket:
    """Parameters of one dtype whose gradients travel in one message, and that message's buffer."""

    def __init__(self, params: list[Parameter]) -> None:
        self.params = params
        self.sizes = [p.data.size for p in params]
        self.flat = np.empty(sum(self.sizes), dtype=params[0].data.dtype)
        self._cached_grads: list[np.ndarray] = []
        self._cached_view: np.ndarray | None = None

    def gradients_in_place(self, grads: list[np.ndarray]) -> np.ndarray | None:
        """A flat view of ``grads`` when they lie end to end in one array, else None."""
        if len(grads) == len(self._cached_grads) and all(g is c for g, c in zip(grads, self._cached_grads)):
            return self._cached_view
        view = _end_to_end_view(grads, self.flat.dtype)
        self._cached_grads, self._cached_view = list(grads), view
        return view


class _GradientReady:
    """The post-accumulate-grad hook of one parameter: tells the wrapper (held weakly) its bucket."""

    __slots__ = ("wrapper", "bucket_index")

    def __init__(self, wrapper: weakref.ref, bucket_index: int) -> None:
        self.wrapper = wrapper
        self.bucket_index = bucket_index

    def __call__(self, param: Tensor) -> None:
        ddp = self.wrapper()
        if ddp is not None:
            ddp._gradient_ready(self.bucket_index)


def _second_backward_error() -> RuntimeError:
    return RuntimeError("DistributedDataParallel: a parameter got a gradient again after its average for this "
                        "forward pass (a second backward through the same graph?); the gradients are averaged "
                        "once per forward: run the forward again, or do the earlier backwards under no_sync()")


def _remove_all(handles: list[Any]) -> None:
    for handle in handles:
        handle.remove()


def _end_to_end_view(arrays: list[np.ndarray], dtype: np.dtype) -> np.ndarray | None:
    """One 1-D array over the memory of ``arrays`` if they are contiguous segments of a common
    array, one after the other; None otherwise."""
    root = arrays[0]
    while isinstance(root.base, np.ndarray):
        root = root.base
    if root.dtype != dtype or not root.flags.c_contiguous or not root.flags.writeable:
        return None
    root_start = root.ctypes.data
    expected = arrays[0].ctypes.data
    for array in arrays:
        if (array.dtype != dtype or not array.flags.c_contiguous or array.ctypes.data != expected):
            return None
        owner = array
        while isinstance(owner.base, np.ndarray):
            owner = owner.base
        if owner is not root:
            return None
        expected += array.nbytes
    first = (arrays[0].ctypes.data - root_start) // dtype.itemsize
    count = (expected - arrays[0].ctypes.data) // dtype.itemsize
    return root.reshape(-1)[first:first + count]


class DistributedDataParallel(Module):
    """Wrap a model for data-parallel training: same start on every rank, averaged gradients.

    Parameters
    ----------
    module : Module
        The model; ``ddp.module`` is it, unchanged in type.
    broadcast_buffers : bool
        Copy rank 0's buffers (batch norm's running statistics) to every rank at the start of
        each training-mode forward, as PyTorch does, so that the replicas stay identical.
    bucket_cap_mb : float
        The largest message of the gradient averaging, in megabytes (PyTorch's default 25).

    Notes
    -----
    Needs ``giagrad.distributed.init_process_group()`` when started by ``mpiexec``; started as
    one plain process without a process group it is a transparent wrapper (a world of one), so
    that the same script runs with and without ``mpiexec``.

    **state_dict has no prefix.** PyTorch's DDP prefixes every key with ``module.``, so that a
    checkpoint saved from the wrapper does not load into the bare model (nor back) without
    renaming. Here ``state_dict()`` is ``module.state_dict()``: a checkpoint written under DDP
    loads into the plain model and the other way round. ``load_state_dict`` also accepts keys
    that all start with ``module.`` (a checkpoint of PyTorch's DDP, converted). The module tree
    (``named_parameters``, ``named_modules``) keeps the ``module.`` level, as in PyTorch.

    A parameter that got no gradient on this rank in a step counts as zeros in the average, and
    holds the average afterwards (as with PyTorch's ``find_unused_parameters=True``).

    Examples
    --------
    Run with ``mpiexec -n 2 python train.py``::

        import giagrad.distributed as dist
        from giagrad.nn.parallel import DistributedDataParallel
        from giagrad.data import DataLoader, DistributedSampler

        dist.init_process_group("mpi")
        model = DistributedDataParallel(MLP())
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        sampler = DistributedSampler(train_set, seed=0)
        loader = DataLoader(train_set, batch_size=64 // dist.get_world_size(), sampler=sampler)
        for epoch in range(epochs):
            sampler.set_epoch(epoch)
            for x, y in loader:
                optimizer.zero_grad()
                loss_fn(model(x), y).backward()
                optimizer.step()      # backward has averaged the gradients across ranks
    """

    def __init__(self, module: Module, broadcast_buffers: bool = True, bucket_cap_mb: float = 25.0) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb!r}")
        if not dist.is_initialized() and dist.launched_by_mpiexec() > 1:
            raise RuntimeError("DistributedDataParallel: this process is one of several started by mpiexec, but "
                               "the process group is not initialized; call "
                               "giagrad.distributed.init_process_group() before wrapping the model")
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.bucket_cap_mb = float(bucket_cap_mb)
        self.world_size = dist.get_world_size() if dist.is_initialized() else 1
        self.require_backward_grad_sync = True  # PyTorch's name; False inside no_sync()
        object.__setattr__(self, "_params", [p for p in module.parameters() if p.requires_grad])
        object.__setattr__(self, "_param_ids", {id(p) for p in self._params})
        object.__setattr__(self, "_buckets", self._make_buckets())
        # Between a syncing forward and the averaging of every bucket: True.
        self._gradients_pending = False
        # For the backward under way: parameters still to get their gradient, per bucket, and the
        # first bucket not yet reduced (buckets go in order, the same on every rank).
        object.__setattr__(self, "_bucket_lengths", [len(bucket.params) for bucket in self._buckets])
        object.__setattr__(self, "_missing", list(self._bucket_lengths))
        self._next_bucket = 0
        # (Work, bucket, the array reduced, the gradients it is a view of or []) of each
        # all-reduce started and not yet waited for.
        object.__setattr__(self, "_in_flight", [])
        self._warned_unused = False
        # Set when a backward averaged every bucket, until the next forward: a gradient arriving
        # then comes from a second backward through the same forward pass.
        self._averaged_in_backward = False
        buffers = self._buffers_to_sync()
        self._has_buffers = bool(buffers)  # spares the forward a walk over the modules when False
        if self.world_size > 1:
            self._broadcast_from_rank_zero(list(module.parameters()) + buffers)
        # The hook holds the wrapper weakly: a dropped wrapper is not kept alive, and its hook goes.
        from giagrad.optim.optimizer import register_optimizer_step_pre_hook

        wrapper = weakref.ref(self)

        def reduce_before_step(optimizer: Any, args: tuple, kwargs: dict) -> None:
            ddp = wrapper()
            if ddp is not None:
                ddp._reduce_before_step(optimizer)

        handles = [register_optimizer_step_pre_hook(reduce_before_step)]
        if self.world_size > 1:  # in a world of one there is nothing to average: no hooks, no cost
            for index, bucket in enumerate(self._buckets):
                for p in bucket.params:
                    handles.append(p.register_post_accumulate_grad_hook(_GradientReady(wrapper, index)))
        object.__setattr__(self, "_hook_finalizer", weakref.finalize(self, _remove_all, handles))

    # ------------------------------------------------------------------------------ setup

    def _make_buckets(self) -> list[_GradientBucket]:
        cap = max(1, int(self.bucket_cap_mb * 2**20))
        by_dtype: dict[np.dtype, list[Parameter]] = {}
        for p in reversed(self._params):  # backward finishes the last layers first
            by_dtype.setdefault(p.data.dtype, []).append(p)
        buckets: list[_GradientBucket] = []
        for params in by_dtype.values():
            current: list[Parameter] = []
            size = 0
            for p in params:
                if current and size + p.data.nbytes > cap:
                    buckets.append(_GradientBucket(current[::-1]))
                    current, size = [], 0
                current.append(p)
                size += p.data.nbytes
            # Registration order inside a bucket: an optimizer's flat gradients then lie end to end.
            buckets.append(_GradientBucket(current[::-1]))
        return buckets

    def _buffers_to_sync(self) -> list[Tensor]:
        return [b for b in self.module.buffers() if b is not None and b.data.dtype.kind in "fiu"]

    def _broadcast_from_rank_zero(self, tensors: list[Tensor]) -> None:
        """Rank 0's values of ``tensors`` on every rank: one ``Bcast`` per dtype, over a flat copy."""
        by_dtype: dict[np.dtype, list[Tensor]] = {}
        for tensor in tensors:
            by_dtype.setdefault(tensor.data.dtype, []).append(tensor)
        for group in by_dtype.values():
            flat = np.concatenate([t.data.reshape(-1) for t in group])
            dist.broadcast(flat, src=0)
            start = 0
            for tensor in group:
                size = tensor.data.size
                np.copyto(tensor.data, flat[start:start + size].reshape(tensor.data.shape))
                tensor._mark_modified()
                start += size

    # ---------------------------------------------------------------------------- forward

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """``module(*args, **kwargs)``, after syncing the buffers; marks the gradients to average."""
        if self._gradients_pending and self._missing != self._bucket_lengths:
            # An earlier backward left buckets waiting (a parameter got no gradient): average them
            # now, before any other message, in the order the other ranks sent theirs.
            self.reduce_gradients()
        self._averaged_in_backward = False
        if self.world_size > 1 and self.training and self.broadcast_buffers and self._has_buffers:
            self._broadcast_from_rank_zero(self._buffers_to_sync())
        if is_grad_enabled() and self.require_backward_grad_sync and not self._gradients_pending:
            # (Already pending with no gradient in yet: a second forward before one backward.)
            self._gradients_pending = True
            self._missing[:] = self._bucket_lengths
            self._next_bucket = 0
        return self.module(*args, **kwargs)

    @contextlib.contextmanager
    def no_sync(self) -> Iterator[None]:
        """Within it, forward passes do not mark the gradients for averaging: they accumulate locally.

        For gradient accumulation: the backward of the first forward after the block averages
        everything accumulated.

        Examples
        --------
        >>> with ddp.no_sync():                              # doctest: +SKIP
        ...     loss_fn(ddp(x1), y1).backward()             # local only
        >>> loss_fn(ddp(x2), y2).backward()                 # averages x1's and x2's gradients  # doctest: +SKIP
        >>> optimizer.step()                                 # doctest: +SKIP
        """
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous

    # ---------------------------------------------------------------------- the averaging

    def reduce_gradients(self) -> None:
        """Average now whatever backward left unaveraged (a no-op when nothing is pending).

        Rarely needed: ``backward`` averages the gradients by itself. It cannot when some
        parameter got no gradient in that backward (see the module notes); then the average
        waits for ``optimizer.step()``, or for this call, which code that reads the gradients
        between backward and step makes right after ``backward``. A missing gradient counts as
        zeros and the parameter holds the average afterwards.
        """
        if not self._gradients_pending:
            return
        self._gradients_pending = False
        if self.world_size == 1:
            return
        buckets = self._buckets
        for index in range(self._next_bucket, len(buckets)):
            self._start_bucket(buckets[index])
        self._next_bucket = len(buckets)
        self._finish_buckets()

    def _gradient_ready(self, bucket_index: int) -> None:
        """A parameter of that bucket has its gradient for this backward: reduce what is complete."""
        missing = self._missing
        if not self._gradients_pending:
            if self._averaged_in_backward:
                raise _second_backward_error()
            return  # the forward ran under no_sync: local gradients
        missing[bucket_index] -= 1
        if missing[bucket_index] < 0:
            raise _second_backward_error()
        if missing[bucket_index] or bucket_index != self._next_bucket:
            return
        buckets = self._buckets
        index = bucket_index
        while index < len(buckets) and missing[index] == 0:
            self._start_bucket(buckets[index])
            index += 1
        self._next_bucket = index
        if index == len(buckets):  # the last gradient of this backward: wait for every bucket
            self._gradients_pending = False
            self._averaged_in_backward = True
            self._finish_buckets()

    def _start_bucket(self, bucket: _GradientBucket) -> None:
        """Start averaging one bucket's gradients across ranks (a missing gradient counts as zeros)."""
        grads = []
        for p in bucket.params:
            grad = p.grad
            if grad is None:  # no gradient here: zeros in the sum, the average afterwards
                grad = p.grad = np.zeros_like(p.data)
            grads.append(grad)
        view = bucket.gradients_in_place(grads)
        if view is None:
            view, start = bucket.flat, 0
            for grad, size in zip(grads, bucket.sizes, strict=True):
                view[start:start + size] = grad.reshape(-1)
                start += size
            grads = []  # none of them holds the result
        self._in_flight.append((dist.all_reduce(view, dist.ReduceOp.AVG, async_op=True), bucket, view, grads))

    def _finish_buckets(self) -> None:
        """Wait for the buckets under way; copy each average to the gradients that do not hold it.

        Those are the gradients copied into the bucket's buffer, and any ``.grad`` replaced since
        the bucket started (an optimizer created after backward moves them into its own buffer).
        """
        for work, bucket, result, reduced_in_place in self._in_flight:
            work.wait()
            start = 0
            for index, (p, size) in enumerate(zip(bucket.params, bucket.sizes, strict=True)):
                grad = p.grad
                if grad is not None and not (reduced_in_place and grad is reduced_in_place[index]):
                    np.copyto(grad, result[start:start + size].reshape(grad.shape))
                start += size
        self._in_flight.clear()

    def _reduce_before_step(self, optimizer: Any) -> None:
        if not self._gradients_pending:
            return
        ids = self._param_ids
        for group in optimizer.param_groups:
            for p in group["params"]:
                if id(p) in ids:
                    if self.world_size > 1 and not self._warned_unused:
                        self._warn_unused()
                    self.reduce_gradients()
                    return

    def _warn_unused(self) -> None:
        self._warned_unused = True
        names = {id(p): name for name, p in self.module.named_parameters()}
        waiting = [names.get(id(p), "?") for bucket in self._buckets[self._next_bucket:] for p in bucket.params]
        warnings.warn("DistributedDataParallel: some parameters got no gradient in the last backward, so their "
                      "buckets were averaged by optimizer.step(), not by backward; code that read the gradients "
                      "in between saw this rank's own. Call reduce_gradients() after backward where parameters "
                      f"may go unused. Parameters averaged late: {', '.join(waiting[:8])}"
                      f"{' ...' if len(waiting) > 8 else ''}", RuntimeWarning, stacklevel=4)

    # ------------------------------------------------------------------------ state dict

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> Any:
        """The wrapped module's state dict, without a ``module.`` prefix (see the class notes)."""
        return self.module.state_dict(prefix=prefix, keep_vars=keep_vars)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> Any:
        """Load into the wrapped module; keys that all start with ``module.`` lose that prefix."""
        if state_dict and all(key.startswith(_MODULE_PREFIX) for key in state_dict):
            state_dict = {key[len(_MODULE_PREFIX):]: value for key, value in state_dict.items()}
        return self.module.load_state_dict(state_dict, strict=strict)

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}"
