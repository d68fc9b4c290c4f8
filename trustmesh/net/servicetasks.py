"""py-libp2p's service manager finds a new task's parent by a lookup, not a walk (net/tuning.py 20).

Why: pubsub runs every gossip message it reads as a service task
(``manager.run_task(self.push_msg, ...)``), and ``TrioManager.run_task``
finds the task's parent by walking every task of the service, recursively,
comparing trio tasks (``_find_parent_task``). A node with a few dozen
streams and messages in flight walked hundreds of tasks per message: in a
profile of a receiver at 50 records/s over 10 nodes, a quarter of its
event loop (bench/network.py). Here each ``FunctionTask`` is indexed by its
trio task when it starts, and the parent is looked up there; the answer is
the same task the walk finds (a running task of this manager's tree, or
None for a new root task).
"""

from __future__ import annotations

import weakref

from libp2p.tools.anyio_service.trio_manager import TrioManager
from libp2p.tools.anyio_service.trio_tasks import FunctionTask

# trio task -> the FunctionTask running in it (weak: a finished task's entry goes with it)
_BY_TRIO_TASK: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()

original_find_parent = TrioManager._find_parent_task   # pinned (net/pins.py) and compared in tests
_original_trio_task = FunctionTask.trio_task


def _set_trio_task(self: FunctionTask, value) -> None:
    _original_trio_task.fset(self, value)
    _BY_TRIO_TASK[value] = self


def find_parent_task(self: TrioManager, trio_task) -> FunctionTask | None:
    """The FunctionTask of this manager running in ``trio_task``, or None (a new root task)."""
    task = _BY_TRIO_TASK.get(trio_task)
    if task is None:
        return None
    node = task
    while node.parent is not None:          # still in the tree: every link up to one of our roots
        if node not in node.parent.children:
            return None
        node = node.parent
    return task if node in self._root_tasks else None


def install() -> None:
    """Replace the walk by the lookup (idempotent)."""
    FunctionTask.trio_task = property(_original_trio_task.fget, _set_trio_task)
    TrioManager._find_parent_task = find_parent_task
