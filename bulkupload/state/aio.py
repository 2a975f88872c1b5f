"""The state store for async code: typed methods, each run in the store's one worker thread."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import anyio.to_thread

from bulkupload.models import FileResult

from .rows import StateRow
from .store import PAGE_SIZE, PageKey, StateStore, next_page_key
from .transfers import TransferRow

T = TypeVar("T")


class AsyncStateStore:
    """Every call runs, one at a time, in a worker thread.

    A `CapacityLimiter(1)` serialises the calls, so the single connection is never used by two
    threads at once (it is opened with `check_same_thread=False` for that reason).
    """

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._limiter = anyio.CapacityLimiter(1)

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str] | None = None, *, readonly: bool = False
    ) -> AsyncStateStore:
        """Open the store in a worker thread; see `StateStore.open`."""
        store = await anyio.to_thread.run_sync(lambda: StateStore.open(path, readonly=readonly))
        return cls(store)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(func, *args, limiter=self._limiter)

    async def begin_run(self, target_key: str) -> int:
        """See `StateStore.begin_run`."""
        return await self._run(self._store.begin_run, target_key)

    async def finish_run(self, run_id: int, summary: dict[str, Any]) -> None:
        """See `StateStore.finish_run`."""
        await self._run(self._store.finish_run, run_id, summary)

    async def lookup(self, target_key: str, rels: Sequence[str]) -> dict[str, StateRow]:
        """See `StateStore.lookup`."""
        return await self._run(self._store.lookup, target_key, rels)

    async def record(
        self,
        target_key: str,
        results: Sequence[FileResult],
        run_id: int,
        *,
        alongside: Callable[[], None] | None = None,
    ) -> None:
        """See `StateStore.record`. `alongside` runs first in the same thread hop (the
        manifest's lines of the same results): one hand-off per batch, not two."""

        def write() -> None:
            if alongside is not None:
                alongside()
            self._store.record(target_key, results, run_id)

        await self._run(write)

    async def begin_transfer(self, target_key: str, rel: str, transfer: TransferRow) -> None:
        """See `StateStore.begin_transfer`."""
        await self._run(self._store.begin_transfer, target_key, rel, transfer)

    async def part_stored(
        self, target_key: str, rel: str, upload_id: str, number: int, etag: str
    ) -> None:
        """See `StateStore.part_stored`."""
        await self._run(self._store.part_stored, target_key, rel, upload_id, number, etag)

    async def transfers(self, target_key: str, rels: Sequence[str]) -> dict[str, TransferRow]:
        """See `StateStore.transfers`."""
        return await self._run(self._store.transfers, target_key, rels)

    async def note_document_uploads(self, target_key: str, made: Sequence[tuple[str, str]]) -> None:
        """See `StateStore.note_document_uploads`."""
        await self._run(self._store.note_document_uploads, target_key, made)

    async def refresh_mtimes(self, target_key: str, touched: Sequence[tuple[str, int]]) -> None:
        """See `StateStore.refresh_mtimes`."""
        await self._run(self._store.refresh_mtimes, target_key, touched)

    async def mark_seen(self, target_key: str, rels: Sequence[str], run_id: int) -> None:
        """See `StateStore.mark_seen`."""
        await self._run(self._store.mark_seen, target_key, rels, run_id)

    async def gone(
        self, target_key: str, run_id: int, limit: int = -1
    ) -> tuple[int, list[StateRow]]:
        """See `StateStore.gone`."""
        return await self._run(self._store.gone, target_key, run_id, limit)

    async def rows(self, target_key: str | None = None) -> AsyncIterator[StateRow]:
        """See `StateStore.rows`; each page is fetched in the worker thread."""
        after: PageKey | None = None
        while True:
            page = await self._run(self._store.rows_page, target_key, after, PAGE_SIZE)
            for row in page:
                yield row
            if (after := next_page_key(page, PAGE_SIZE)) is None:
                return

    async def unplaced(self, target_keys: Sequence[str], now: float) -> tuple[int, float | None]:
        return await self._run(self._store.unplaced, target_keys, now)

    async def api_limits(self) -> dict[str, Any]:
        return await self._run(self._store.api_limits)

    async def close(self) -> None:
        """See `StateStore.close`."""
        await self._run(self._store.close)
