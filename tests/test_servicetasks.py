"""py-libp2p's service manager looks a new task's parent up instead of walking the task tree
(net/servicetasks.py, net/tuning.py 20): the same answer as the walk, in every position."""

from __future__ import annotations

import trio
from libp2p.tools.anyio_service import Service, background_trio_service

from trustmesh.net import servicetasks, tuning

tuning.install()


class Tree(Service):
    """Root tasks that start children that start grandchildren; each records both answers."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: list[tuple[object, object, object]] = []   # (walk, lookup, depth)
        self.trio_tasks: list = []
        self.running = self.done = 0

    def both(self):
        current = trio.lowlevel.current_task()
        walk = servicetasks.original_find_parent(self.manager, current)
        return walk, servicetasks.find_parent_task(self.manager, current)

    async def node(self, depth: int, hold: trio.Event) -> None:
        walk, lookup = self.both()
        self.answers.append((walk, lookup, depth))
        if depth < 2:
            for _ in range(3):
                self.manager.run_task(self.node, depth + 1, hold)
        self.trio_tasks.append(trio.lowlevel.current_task())
        self.running += 1
        await hold.wait()
        self.done += 1

    async def run(self) -> None:
        await trio.sleep_forever()


async def test_the_lookup_finds_the_task_the_walk_finds():
    tree, other = Tree(), Tree()
    hold = trio.Event()
    async with background_trio_service(tree), background_trio_service(other):
        for _ in range(2):
            tree.manager.run_task(tree.node, 0, hold)
        other.manager.run_task(other.node, 0, hold)
        with trio.fail_after(10):
            while tree.running < 2 * (1 + 3 + 9) or other.running < 13:
                await trio.sleep(0.01)
        assert len(tree.answers) == 26
        for walk, lookup, depth in tree.answers:
            assert walk is lookup and walk is not None      # inside a task: that task, found both ways
        # a trio task outside the service (this test), and a task of another service: no parent
        assert tree.both() == (None, None)
        foreign = {}

        async def ask() -> None:
            foreign["answer"] = tree.both()
        other.manager.run_task(ask)
        with trio.fail_after(10):
            while "answer" not in foreign:
                await trio.sleep(0.01)
        assert foreign["answer"] == (None, None)
        hold.set()
        with trio.fail_after(10):                          # finished tasks are not found any more
            while tree.done < 26 or any(servicetasks.original_find_parent(tree.manager, t) for t in tree.trio_tasks):
                await trio.sleep(0.01)
        assert all(servicetasks.find_parent_task(tree.manager, t) is None for t in tree.trio_tasks)
        tree.manager.cancel()
        other.manager.cancel()
