"""The chaos run's processes and operator work: engines killed at random, the store lost, CLI chores.

* ``Fleet``: ``paybridge serve`` (the API, an engine too) and N ``paybridge worker`` processes,
  each SIGKILLed at random moments on its own schedule and started again;
* ``StoreKeeper``: a copy of the store taken mid-run, then the store deleted or put back from
  that copy while every engine is stopped (SQLite files; PostgreSQL tables copied in SQL);
* ``cli``: an operator's ``paybridge`` command (``dlq replay``, ``reconcile --heal``, ...) as a
  process on the run's settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import shutil
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, bindparam, create_engine, func, make_url, select, text

from paybridge.keys import LINE_STEP
from paybridge.store.database import table_names
from paybridge.store.schema import intents, queue, queue_status_in

_READY = b"worker ready"


async def wait_ready(url: str, deadline: float = 30.0) -> None:
    start = time.monotonic()
    async with httpx.AsyncClient() as client:
        while time.monotonic() - start < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code < 500:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def cli(
    binary: Path, env: dict[str, str], *args: str, timeout: float = 180
) -> tuple[int, str]:
    """``paybridge <args>``: its exit code, and its stdout then stderr."""
    proc = await asyncio.create_subprocess_exec(
        str(binary / "paybridge"), *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=timeout)
    said = out.decode(errors="replace") + err.decode(errors="replace")
    return int(proc.returncode or 0), said


def replayed_count(said: str) -> int:
    found = re.search(r"replaying (\d+) dead letter", said)
    if found is None:
        raise RuntimeError(f"dlq replay said nothing countable: {said[-300:]}")
    return int(found.group(1))


def healed_count(said: str) -> int:
    found = re.search(r"(\d+) healed", said)
    if found is None:
        raise RuntimeError(f"reconcile --heal said nothing countable: {said[-300:]}")
    return int(found.group(1))


@dataclass
class Killer:
    """One ``paybridge worker`` process, SIGKILLed at random moments and started again."""

    binary: Path
    config: Path
    env: dict[str, str]
    log: Path
    rng: random.Random
    every: float
    concurrency: int
    # Besides the kills, the worker is frozen (SIGSTOP) for ``pause_seconds`` whenever it is
    # caught mid-write (see ``_holding``), then left alone as long again: a stalled process (GC,
    # a frozen VM) whose lease runs out while it holds messages, then wakes up and goes on with
    # them. Only fencing keeps it from changing what it lost. (0, 0): never frozen.
    pause_seconds: tuple[float, float] = (0.0, 0.0)
    # One frozen worker at a time: a frozen process may hold SQLite's write lock, and two
    # freezes back to back would outlast the store's busy timeout for everyone else.
    one_frozen: asyncio.Lock = field(default_factory=asyncio.Lock)
    store_url: str = ""  # where to see that the worker holds a lease (the moment to freeze it)
    kills: int = 0
    pauses: int = 0
    pauses_in_flight: int = 0  # freezes while a D365 journal line write of it was in flight
    crashes: int = 0
    proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start and wait until it says it is ready: a kill during start-up proves nothing."""
        ready = self._readies()
        out = self.log.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            # Faults are injected on purpose: the access check is for go-live, not for chaos.
            str(self.binary / "paybridge"), "worker", "--skip-check", "--config", str(self.config),
            "--concurrency", str(self.concurrency), env=self.env, stdout=out, stderr=out,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while self._readies() == ready and self.proc.returncode is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not get ready in 60 s; see {self.log}")
            await asyncio.sleep(0.05)

    def _readies(self) -> int:
        try:
            return self.log.read_bytes().count(_READY)
        except FileNotFoundError:
            return 0

    async def run(self, until: asyncio.Event) -> None:
        """Kill at random moments until ``until`` (the process is started first)."""
        await self.start()
        while not until.is_set():
            proc = self.proc
            if proc is None:
                raise RuntimeError("the worker process is gone")
            exited = asyncio.create_task(proc.wait())
            stopping = asyncio.create_task(until.wait())
            await asyncio.wait(
                {exited, stopping},
                timeout=self.every * self.rng.uniform(0.5, 1.5),
                return_when=asyncio.FIRST_COMPLETED,
            )
            for task in (exited, stopping):
                task.cancel()
            if until.is_set():
                break
            if proc.returncode is not None:
                # It died on its own: a bug the run must report, not a kill it made.
                self.crashes += 1
                if self.crashes > 20:
                    raise RuntimeError(f"the worker keeps exiting by itself; see {self.log}")
            else:
                proc.kill()
                await proc.wait()
                self.kills += 1
            await self.start()

    async def freeze(self, until: asyncio.Event) -> None:
        """Freeze it whenever it is caught mid-write, until ``until`` (runs beside ``run``; a
        freeze is not a kill, so it goes on while the queue drains)."""
        while not until.is_set() and self.pause_seconds[1]:
            proc = self.proc
            if proc is None or proc.returncode is not None:
                await asyncio.sleep(0.1)  # being started again after a kill
                continue
            held = await self._holding(proc.pid, within=self.every)
            if not held or until.is_set():
                continue
            pause = self.rng.uniform(*self.pause_seconds)
            async with self.one_frozen:
                try:
                    proc.send_signal(signal.SIGSTOP)
                except ProcessLookupError:  # killed meanwhile
                    continue
                try:
                    await asyncio.sleep(pause)
                finally:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGCONT)
                await asyncio.sleep(_THAWED)  # it finishes what it held before the next freeze
            self.pauses += 1
            self.pauses_in_flight += held == IN_FLIGHT
            await asyncio.sleep(pause)  # then leave it alone a while: work must get done

    async def stop(self) -> None:
        await _terminate(self.proc)

    async def _holding(self, pid: int, *, within: float) -> str:
        """Wait (up to ``within`` seconds) for the best moment to freeze the worker: while one of
        its D365 journal line writes is in flight (the line may be committed and not yet
        recorded: only fencing keeps the frozen worker from recording it a second time after
        another took the message over), else while it holds any leased message. Returns
        ``IN_FLIGHT``, ``HOLDING`` or "" (neither: no freeze)."""
        if not self.store_url:
            return HOLDING
        engine = create_engine(self.store_url)
        deadline = time.monotonic() + within
        # Its loops are named <host>-<pid> and <host>-<pid>-<n> (``paybridge worker``).
        who = {"one": f"%-{pid}", "loop": f"%-{pid}-%", "step": LINE_STEP}
        try:
            holding = False
            while time.monotonic() < deadline:
                with engine.connect() as conn:
                    if conn.execute(_IN_FLIGHT, who).scalar():
                        return IN_FLIGHT
                    holding = bool(conn.execute(_HOLDING, who).scalar())
                await asyncio.sleep(0.02)
        finally:
            engine.dispose()
        return HOLDING if holding else ""


IN_FLIGHT, HOLDING = "in_flight", "holding"
_THAWED = 2.0  # seconds after a freeze before any worker of the fleet is frozen again
_MINE = queue_status_in("leased") & (
    queue.c.leased_by.like(bindparam("one")) | queue.c.leased_by.like(bindparam("loop"))
)
_HOLDING = select(func.count()).select_from(queue).where(_MINE)
# A journal line intent is ``sent`` from just before its ``$batch`` until the outcome is recorded.
_IN_FLIGHT = (
    select(func.count())
    .select_from(queue.join(intents, intents.c.event_key == queue.c.key))
    .where(_MINE, intents.c.step == bindparam("step"), intents.c.status == "sent")
)


async def _terminate(proc: asyncio.subprocess.Process | None) -> None:
    if proc is None or proc.returncode is not None:
        return
    proc.terminate()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(proc.wait(), timeout=15)
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


@dataclass
class Fleet:
    """``paybridge serve`` and ``workers`` worker processes on one store, killed independently."""

    binary: Path
    config: Path
    env: dict[str, str]
    work: Path
    rng: random.Random
    workers: int
    concurrency: int
    kill_every: float
    api_port: int
    pause_seconds: float = 0.0  # > 0: workers caught mid-write are frozen this long (+0-2 s)
    store_url: str = ""
    killers: list[Killer] = field(default_factory=list)
    serve: asyncio.subprocess.Process | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _until: asyncio.Event = field(default_factory=asyncio.Event)
    _freezers: list[asyncio.Task[None]] = field(default_factory=list)
    _thaw: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        one_frozen = asyncio.Lock()
        self.killers = [
            Killer(
                self.binary,
                self.config,
                self.env,
                self.work / f"worker-{n}.log",
                random.Random(self.rng.random()),
                self.kill_every,
                self.concurrency,
                # No freezes without a pause length (the product's default lease).
                pause_seconds=(self.pause_seconds, self.pause_seconds + 2)
                if self.pause_seconds
                else (0.0, 0.0),
                one_frozen=one_frozen,
                store_url=self.store_url,
            )
            for n in range(1, self.workers + 1)
        ]

    @property
    def kills(self) -> int:
        return sum(k.kills for k in self.killers)

    @property
    def pauses(self) -> int:
        return sum(k.pauses for k in self.killers)

    @property
    def pauses_in_flight(self) -> int:
        return sum(k.pauses_in_flight for k in self.killers)

    @property
    def crashes(self) -> int:
        return sum(k.crashes for k in self.killers)

    async def start(self) -> None:
        out = (self.work / "serve.log").open("ab")
        self.serve = await asyncio.create_subprocess_exec(
            str(self.binary / "paybridge"), "serve", "--skip-check", "--config", str(self.config),
            env=self.env,
            stdout=out, stderr=out,
        )  # fmt: skip
        await wait_ready(f"http://127.0.0.1:{self.api_port}/health", deadline=60.0)
        self._until = asyncio.Event()
        self._tasks = [asyncio.create_task(k.run(self._until)) for k in self.killers]
        if not self._freezers:  # once per run: a store loss starts the processes again
            self._freezers = [asyncio.create_task(k.freeze(self._thaw)) for k in self.killers]
        await asyncio.sleep(0)

    async def calm(self) -> None:
        """No more kills; the processes keep running (what a killed one held waits out its lease)."""
        self._until.set()
        for task in self._tasks:
            with contextlib.suppress(Exception):
                await task
        self._tasks = []

    async def thaw(self) -> None:
        """No more freezes (the run has seen the queue drained under them)."""
        self._thaw.set()
        for task in self._freezers:
            with contextlib.suppress(Exception):
                await task

    async def stop(self) -> None:
        """Every engine process stopped (SIGTERM, as an operator would), nothing left running."""
        await self.calm()
        for killer in self.killers:
            await killer.stop()
        await _terminate(self.serve)
        self.serve = None

    def failed(self) -> BaseException | None:
        """A killer that gave up (e.g. a worker that no longer starts)."""
        for task in [*self._tasks, *self._freezers]:
            if task.done() and not task.cancelled() and task.exception() is not None:
                return task.exception()
        return None


class StoreKeeper:
    """Copies the store mid-run, then deletes it or puts the copy back (engines stopped)."""

    def __init__(self, url: str, work: Path) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        self.copy = work / "paybridge-copy.db"
        self.copied = False

    def snapshot(self) -> None:
        """A consistent copy while the engines run (SQLite's online backup; SQL on PostgreSQL)."""
        if self.sqlite:
            source = sqlite3.connect(self._path())
            target = sqlite3.connect(self.copy)
            with target:
                source.backup(target)
            source.close()
            target.close()
        else:
            engine = self._engine()
            schema, backup = self._schemas(engine)
            with engine.begin() as conn:
                conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{backup}" CASCADE'))
                conn.execute(text(f'CREATE SCHEMA "{backup}"'))
                for table in table_names(engine):
                    conn.execute(
                        text(f'CREATE TABLE "{backup}"."{table}" AS TABLE "{schema}"."{table}"')
                    )
            engine.dispose()
        self.copied = True

    def restore(self) -> None:
        if not self.copied:
            raise RuntimeError("no copy of the store was taken")
        if self.sqlite:
            self._remove_files()
            shutil.copyfile(self.copy, self._path())
            return
        engine = self._engine()
        schema, backup = self._schemas(engine)
        tables = table_names(engine)
        with engine.begin() as conn:
            conn.execute(text("SET session_replication_role = replica"))  # no FK order needed
            conn.execute(text(_truncate(schema, tables)))
            for table in tables:
                conn.execute(
                    text(f'INSERT INTO "{schema}"."{table}" SELECT * FROM "{backup}"."{table}"')  # noqa: S608 - names from the schema
                )
        engine.dispose()

    def delete(self) -> None:
        """The store as on a new machine: no file (SQLite), empty tables (PostgreSQL)."""
        if self.sqlite:
            self._remove_files()
            return
        engine = self._engine()
        schema, _ = self._schemas(engine)
        tables = [t for t in table_names(engine) if t != "alembic_version"]
        with engine.begin() as conn:
            conn.execute(text(_truncate(schema, tables)))
        engine.dispose()

    def drop_copy(self) -> None:
        if self.sqlite or not self.copied:
            return
        engine = self._engine()
        _, backup = self._schemas(engine)
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{backup}" CASCADE'))
        engine.dispose()

    def _path(self) -> Path:
        database = make_url(self.url).database
        if not database:
            raise RuntimeError(f"not a SQLite file: {self.url}")
        return Path(database)

    def _remove_files(self) -> None:
        path = self._path()
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def _engine(self) -> Engine:
        return create_engine(self.url)

    @staticmethod
    def _schemas(engine: Engine) -> tuple[str, str]:
        with engine.connect() as conn:
            schema = str(conn.execute(text("SELECT current_schema()")).scalar_one())
        return schema, f"{schema}_chaos_copy"


def _truncate(schema: str, tables: list[str]) -> str:
    return "TRUNCATE " + ", ".join(f'"{schema}"."{t}"' for t in tables)
