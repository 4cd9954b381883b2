"""Tokens are stored hashed; budgets count per day; the audit log is append-only JSON lines."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from genomics_variants.api.access import AuditLog, Budgets, Principal, TokenStore, token_hash
from genomics_variants.api.privacy import Tier
from medfollow_core.errors import MedfollowError


def test_tokens_are_stored_hashed(tmp_path: Path) -> None:
    tokens = TokenStore(tmp_path, recheck_seconds=0)
    token = tokens.add("klinisk-genetik-ouh", Tier.REGISTERED, budget=50)
    text = tokens.path.read_text()
    assert token not in text and token_hash(token) in text
    assert oct(tokens.path.stat().st_mode & 0o777) == "0o600"
    assert tokens.resolve(token) == Principal("klinisk-genetik-ouh", Tier.REGISTERED, 50)
    assert tokens.resolve(token + "x") is None
    assert "sha256" not in tokens.listing()[0]
    with pytest.raises(MedfollowError):
        tokens.add("klinisk-genetik-ouh", Tier.CONTROLLED)
    with pytest.raises(MedfollowError):
        tokens.add("someone", Tier.ANONYMOUS)
    assert tokens.revoke("klinisk-genetik-ouh") and tokens.resolve(token) is None


def test_budgets_are_shared_by_processes_and_survive_restarts(tmp_path: Path) -> None:
    who = Principal("lab", Tier.REGISTERED, 3)
    first, second = Budgets(tmp_path), Budgets(tmp_path)  # e.g. two server workers
    assert [first.charge(who), second.charge(who), first.charge(who), second.charge(who)] == [
        True,
        True,
        True,
        False,
    ]
    assert Budgets(tmp_path).remaining(who) == 0  # a restarted server remembers
    unlimited = Principal("big", Tier.CONTROLLED, 0)
    assert all(first.charge(unlimited) for _ in range(100)) and first.remaining(unlimited) is None
    first.close()
    second.close()


def test_audit_log_lines(tmp_path: Path) -> None:
    audit = AuditLog(tmp_path)
    audit.write({"principal": "lab", "status": 200})
    audit.write({"principal": "lab", "status": 429})
    audit.close()
    lines = [
        json.loads(line)
        for path in (tmp_path / "audit").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert [e["status"] for e in lines] == [200, 429] and all("ts" in e for e in lines)


def test_large_budgets_are_handed_out_in_blocks_and_never_exceeded(tmp_path: Path) -> None:
    who = Principal("lab", Tier.REGISTERED, 2_500)  # blocks of 2 (0.1 %)
    first, second = Budgets(tmp_path), Budgets(tmp_path)
    assert first.charge(who) and Budgets(tmp_path).remaining(who) == 2_498  # one block taken
    granted = 1
    for _ in range(3_000):
        granted += first.charge(who) + second.charge(who)
    assert granted == 2_500  # every query of the budget, and not one more
    assert not first.charge(who) and not second.charge(who)
    first.close()
    second.close()


def _audit_lines(folder: Path) -> list[dict[str, object]]:
    return [
        json.loads(line)
        for path in (folder / "audit").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]


def test_audit_lines_reach_the_file_by_the_next_loop_turn(tmp_path: Path) -> None:
    """Inside the server's event loop, lines are flushed together once per loop turn."""
    audit = AuditLog(tmp_path)

    async def queries() -> list[int]:
        audit.write({"principal": "lab", "status": 200})
        audit.write({"principal": "lab", "status": 404})
        before = len(_audit_lines(tmp_path))
        await asyncio.sleep(0)  # one loop turn
        return [before, len(_audit_lines(tmp_path))]

    assert asyncio.run(queries()) == [0, 2]
    audit.close()


def test_budgets_of_many_callers_keep_few_files_open(tmp_path: Path) -> None:
    """Anonymous budgets are per address, and a caller can bring thousands of addresses:
    the counters must not each hold a file descriptor until the day ends."""
    budgets = Budgets(tmp_path)
    open_before = len(os.listdir("/proc/self/fd"))
    callers = [
        Principal(f"anonymous:10.0.{i // 250}.{i % 250}", Tier.ANONYMOUS, 2) for i in range(600)
    ]
    assert all(budgets.charge(who) for who in callers)
    assert len(os.listdir("/proc/self/fd")) - open_before <= Budgets.MAX_OPEN_FILES
    assert [budgets.charge(callers[0]), budgets.charge(callers[0])] == [True, False]
    budgets.close()


TURNS = 150


def _busy_worker(folder: str, name: str, start: Any) -> None:
    """A worker's audit trail: turns of the event loop with 20 kB of lines each."""
    audit = AuditLog(Path(folder))
    start.wait()

    async def turns() -> None:
        for _ in range(TURNS):
            for _ in range(40):
                audit.write({"principal": name, "query": {"variant": "x" * 500}})
            await asyncio.sleep(0)

    asyncio.run(turns())
    audit.close()


def test_workers_sharing_the_days_file_never_split_each_others_lines(tmp_path: Path) -> None:
    """API workers append to one file per day; a turn's lines go out in one write of
    whole lines, so a line of one worker never lands inside a line of another."""
    context = multiprocessing.get_context("fork")
    start = context.Barrier(3)
    workers = [
        context.Process(target=_busy_worker, args=(str(tmp_path), f"w{i}", start)) for i in range(3)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    lines = _audit_lines(tmp_path)  # every line parses
    assert sorted(str(e["principal"]) for e in lines) == sorted(
        f"w{i}" for i in range(3) for _ in range(40 * TURNS)
    )
