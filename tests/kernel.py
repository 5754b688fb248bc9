"""Run a notebook's cells in a fresh kernel, with its own environment and working folder
(the tests that must see what a student's kernel sees: start-up output, files opened)."""
from __future__ import annotations


def execute(nb, env: dict, cwd, timeout: int = 600):
    """Execute every cell of ``nb`` (an ``nbformat`` notebook, outputs stored in place) in a new
    ``python3`` kernel started with ``env`` in folder ``cwd``; the kernel is always shut down."""
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.km = client.create_kernel_manager()
    client.start_new_kernel(env=env)
    client.start_new_kernel_client()
    try:
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
    finally:
        client._cleanup_kernel()
    return nb
