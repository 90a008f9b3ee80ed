"""A non-resident store's batches brought to the training device one step ahead, while the GPU trains on the
current one: a background thread gathers a host batch (GATHER_THREADS threads, into one of a few preallocated
pinned buffers) and copies it on a side stream, or decodes a JPEG batch there; the training stream waits on the
batch's event only when it takes the batch. Nothing is synchronised per step on the training stream.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

from helpers.pipeline.store import GATHER_THREADS, ImageStore

AHEAD = 2  # batches ready (or being made) ahead of the one training


class Stager:
    """Turns a sequence of index batches into (indices, images on the device), made AHEAD batches early."""

    def __init__(self, store, device: torch.device, batch_size: int):
        self.cuda = device.type == "cuda"
        if self.cuda and device.index is None:  # the staging thread selects this GPU by its index
            device = torch.device("cuda", torch.cuda.current_device())
        self.store, self.device = store, device
        self.decoded = isinstance(store, ImageStore)
        self.side = torch.cuda.Stream(device) if self.cuda else None
        self.slots: list[torch.Tensor] = []
        self.slot_done: list[torch.cuda.Event | None] = []
        if self.decoded and self.cuda:  # pinned staging buffers, reused: a fresh pinned buffer per batch is slow
            s = store.images.shape[1]
            self.slots = [torch.empty((batch_size, s, s, 3), dtype=torch.uint8, pin_memory=True)
                          for _ in range(AHEAD + 2)]
            self.slot_done = [None] * len(self.slots)
        self.pool = ThreadPoolExecutor(GATHER_THREADS) if self.decoded else None
        self.made = 0

    def _make(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.cuda.Event | None]:
        """One batch's images on the device, and the event the training stream waits on (None on a CPU)."""
        if not self.cuda:
            if self.decoded:
                return torch.index_select(self.store.images, 0, idx.cpu()), None
            return self.store.decode(idx, self.device), None
        with torch.cuda.stream(self.side):
            if self.decoded:
                k = self.made % len(self.slots)
                if self.slot_done[k] is not None:
                    self.slot_done[k].synchronize()  # the copy that last read this buffer has finished
                slot = self.store.gather(idx, self.slots[k], self.pool)
                images = torch.empty(slot.shape, dtype=torch.uint8, device=self.device)
                images.copy_(slot, non_blocking=True)
                self.slot_done[k] = self.side.record_event()
            else:
                self.side.synchronize()  # nothing queued here may still read a block the decoder is handed (#9606)
                images = self.store.decode(idx, self.device)
            self.made += 1
            return images, self.side.record_event()

    def take(self, images: torch.Tensor, ready: torch.cuda.Event | None) -> torch.Tensor:
        """The images, once the training stream may read them (it waits on their event; nothing blocks the host)."""
        if ready is not None:
            stream = torch.cuda.current_stream(self.device)
            stream.wait_event(ready)
            images.record_stream(stream)  # the allocator reuses the block only after the training stream is done
        return images

    def run(self, batches: Iterable[torch.Tensor]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(indices, images on the device) for each index batch, in order, AHEAD batches early."""
        q: queue.Queue = queue.Queue(maxsize=AHEAD)
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                if self.cuda:
                    torch.cuda.set_device(self.device)
                for idx in batches:
                    if not put(("batch", idx, *self._make(idx))):
                        return
                put(("end",))
            except BaseException as e:  # noqa: BLE001 - handed to the training thread, which raises it
                put(("error", e))

        thread = threading.Thread(target=work, name="store-staging", daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if item[0] == "end":
                    return
                if item[0] == "error":
                    raise item[1]
                yield item[1], self.take(item[2], item[3])
        finally:
            stop.set()
            thread.join(timeout=10)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=False)
        self.slots = []
