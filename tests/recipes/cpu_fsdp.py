"""`genrec` under FSDP2 on CPU processes, for test_distributed.py (run by `accelerate launch`).

accelerate turns on FSDP only on accelerator devices: on CPU processes its state says
MULTI_CPU (gloo) whatever the launch config says. This script switches that state to FSDP with
the plugin the launch config describes (accelerate builds it from the environment that
`accelerate launch --config_file configs/accelerate/fsdp.yaml` sets), so accelerate's FSDP2
preparation and torch's `fully_shard` run for real, on gloo, under genrec's unchanged loop.
"""

from __future__ import annotations

from accelerate import Accelerator, DistributedType
from accelerate.utils import FullyShardedDataParallelPlugin

from genrec.cli.main import app
from genrec.recipes import loop


class CpuFsdp(Accelerator):
    """An Accelerator on CPU processes that shards the model as the launch config says."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        assert self.distributed_type == DistributedType.MULTI_CPU  # gloo
        plugin = FullyShardedDataParallelPlugin()
        if self.mixed_precision != "no":  # as accelerate's state does for an FSDP launch
            plugin.set_mixed_precision(self.mixed_precision)
        self.state.distributed_type = DistributedType.FSDP
        self.state.fsdp_plugin = plugin


if __name__ == "__main__":
    loop.Accelerator = CpuFsdp
    app()
