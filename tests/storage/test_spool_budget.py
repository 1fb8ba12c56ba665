"""`SpoolBudget` (`--store-spool`): the temporary disk every PATCH of a process spools parts into, bounded
together (issue #22). Driven through `PartWriter` with a send that returns at once."""

from __future__ import annotations

import asyncio

from tusserver.storage.part_writer import MiB, PartWriter, SpoolBudget

PART = 5 * MiB


async def send(number: int, body: object) -> None:
    return None


def test_a_stalled_writer_makes_the_next_wait_until_it_ends() -> None:
    """A PATCH holding spool without sending more (a trickling client) is never overtaken past the limit."""

    async def run() -> None:
        budget = SpoolBudget(6 * MiB)
        stalled, other = PartWriter(send, PART, 1, 1, spool=budget), PartWriter(send, PART, 1, 1, spool=budget)
        await stalled.add(b"s" * (4 * MiB + 1))  # holds 5 MiB of spool and then sends nothing
        waiting = asyncio.create_task(other.add(b"o" * (3 * MiB)))
        await asyncio.sleep(0)
        for _ in range(20):  # yields to the loop: the waiting write makes no progress, whatever the timing
            await asyncio.sleep(0)
        assert not waiting.done() and other.filled <= MiB
        assert budget.held <= budget.limit
        await stalled.aclose()  # the stalled PATCH ends (client gone): its spool comes back
        await asyncio.wait_for(waiting, 30)
        assert other.filled == 3 * MiB and budget.peak <= budget.limit
        await other.aclose()
        assert budget.held == 0

    asyncio.run(run())


def test_writers_that_all_wait_on_each_other_are_let_through() -> None:
    """Each filled part of its part and none can finish one: the first waiter goes on, so nobody hangs."""

    async def run() -> None:
        budget = SpoolBudget(6 * MiB)
        writers = [PartWriter(send, PART, 1, 1, spool=budget) for _ in range(2)]
        for writer in writers:
            await writer.add(b"x" * (3 * MiB))  # 3 MiB each: the budget is spent, each needs 2 MiB more
        await asyncio.wait_for(asyncio.gather(*(w.add(b"y" * (3 * MiB)) for w in writers)), 30)
        assert all(w.number == 2 for w in writers)  # each sent its part
        for writer in writers:
            await writer.aclose()
        assert budget.held == 0

    asyncio.run(run())
