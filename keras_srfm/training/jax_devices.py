"""Data parallelism of `srfm train --backend jax`: every local device, and several hosts.

The update is written for the global batch (`JaxSRFM.step`); `jax.jit` partitions it
(GSPMD) over a one-axis `Mesh` of all devices: the batch is split along its first axis
(`NamedSharding(mesh, P("batch"))`), the state (both networks, both optimizers, Eq. 7's
rescale) is replicated. XLA inserts the cross-device sums, so each per-example loss is summed
over the *global* batch and divided by it, Eq. 7's softmax weighs the layer losses summed over
all devices, and the discriminator's BatchNorm statistics are those of the global batch (as
`sync_batchnorm` makes them under `tf.distribute`): the update is that of one device with the
same global batch, up to the order of float sums (tests/training/test_jax_data_parallel.py).

`--batch-size` is the global batch, as on the TensorFlow path; each device takes
`batch / devices` examples, so the batch must be a multiple of the device count.

Several hosts: start the same `srfm train --backend jax` command on every host with

- `JAX_COORDINATOR_ADDRESS=host:port` (process 0's address, which JAX itself reads),
- `JAX_NUM_PROCESSES=N` and `JAX_PROCESS_ID=i` (0 .. N-1; read here),

and a `--run-dir` on a shared file system. `jax.distributed.initialize` joins them before any
device is used; every process draws the same global batch (the patch pool is seeded by
interval) and feeds its own rows; only process 0 writes the run folder.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

_JOINED: list[bool] = []

# === Hosts ===


def join_hosts() -> None:
    """`jax.distributed.initialize` once per process when `JAX_COORDINATOR_ADDRESS` is set.

    Raises:
        ValueError: the address is set without `JAX_NUM_PROCESSES` / `JAX_PROCESS_ID` (one line).
    """
    address = os.environ.get("JAX_COORDINATOR_ADDRESS")
    if not address or _JOINED:
        return
    try:
        count, index = int(os.environ["JAX_NUM_PROCESSES"]), int(os.environ["JAX_PROCESS_ID"])
    except (KeyError, ValueError) as err:
        raise ValueError(
            "JAX_COORDINATOR_ADDRESS is set: a multi-host run also needs JAX_NUM_PROCESSES and JAX_PROCESS_ID "
            f"(integers). Received: {err}"
        ) from err
    jax.distributed.initialize(address, num_processes=count, process_id=index)
    _JOINED.append(True)


def is_main_process() -> bool:
    """Whether this process writes the run folder (process 0)."""
    return jax.process_index() == 0


# === Placement ===


@dataclasses.dataclass(frozen=True)
class Placement:
    """Where the arrays of an update live: the mesh, the batch split, the replicated state."""

    mesh: Mesh

    @property
    def devices(self) -> int:
        return self.mesh.devices.size

    @property
    def batch(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec("batch"))

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, PartitionSpec())

    def describe(self, global_batch: int) -> str:
        kinds = sorted({d.platform.upper() for d in self.mesh.devices.flat})
        hosts = f" on {jax.process_count()} hosts" if jax.process_count() > 1 else ""
        return (f"JAX on {self.devices} {'/'.join(kinds)} device{'s' if self.devices > 1 else ''}{hosts}, "
                f"global batch {global_batch} = {global_batch // self.devices} per device")

    def put_state(self, state: Any) -> Any:
        """Every leaf of `state`, replicated on the mesh (from host values: works across hosts)."""

        def replicate(leaf: Any) -> Any:
            value = host_value(leaf)
            return jax.make_array_from_callback(value.shape, self.replicated, lambda index: value[index])

        return jax.tree_util.tree_map(replicate, state)

    def put_batch(self, array: np.ndarray) -> jax.Array:
        """The global batch `array` (the same on every process), split over the devices; each
        process contributes its own rows."""
        rows = array.shape[0] // jax.process_count()
        local = array[jax.process_index() * rows : (jax.process_index() + 1) * rows]
        return jax.make_array_from_process_local_data(self.batch, local, array.shape)


def placement(devices: list | None = None) -> Placement:
    """A Placement over `devices` (default: every device of every process)."""
    join_hosts()
    return Placement(Mesh(np.array(devices or jax.devices()), ("batch",)))


def device_count() -> int:
    """How many devices a run uses (after joining the other hosts, where set)."""
    join_hosts()
    return jax.device_count()


def host_value(leaf: Any) -> np.ndarray:
    """A numpy copy of a (replicated) array, also when it spans devices of other hosts."""
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        return np.asarray(leaf.addressable_data(0))
    return np.asarray(leaf)
