#!/usr/bin/env bash
# Builds .reference-venv: torch, transformers, peft and mergekit, for scripts/reference/*.py.
# Not used by npm test. Usage: scripts/reference/setup.sh /path/to/mergekit-checkout
# On the project's build machines PyPI itself is unreachable; pip's configured local index and
# wheel folder (pip config list) serve torch 2.13 (CPU), transformers 5, peft 0.21. mergekit's exact
# pins (pydantic 2.10, safetensors 0.5, tqdm 4.67, immutables) are not there, so it is installed
# without its pins, with two local workarounds that change no merge arithmetic:
#   - a minimal `immutables.Map` (a hashable read-only mapping);
#   - pydantic 2.13 refuses mergekit's Task models (torch.Tensor fields) without
#     arbitrary_types_allowed, which is added to mergekit/graph.py's Task.
# With these, the easy_define methods (multislerp, nearswap, sce, ram, ramplus_tl) still fail to
# instantiate; the parity script reports them as "mergekit failed".
set -euo pipefail
MK=${1:?usage: setup.sh MERGEKIT_CHECKOUT}
cd "$(dirname "$0")/../.."
python3 -m venv .reference-venv
PIP=".reference-venv/bin/pip install -q"
$PIP torch tqdm click safetensors accelerate pydantic transformers tokenizers huggingface_hub peft sentencepiece protobuf scipy numpy
$PIP --no-deps "$MK"
SP=$(.reference-venv/bin/python -c "import site; print(site.getsitepackages()[0])")
cat > "$SP/immutables.py" <<'PY'
from collections.abc import Mapping
class Map(Mapping):
    def __init__(self, *a, **k): self._d = dict(*a, **k)
    def __getitem__(self, k): return self._d[k]
    def __iter__(self): return iter(self._d)
    def __len__(self): return len(self._d)
    def __hash__(self): return hash(frozenset(self._d.items()))
    def __eq__(self, o): return isinstance(o, Mapping) and dict(self._d) == dict(o)
    def __class_getitem__(cls, item): return cls
PY
sed -i 's/^class Task(ABC, BaseModel, Generic\[ValueT\], frozen=True):/class Task(ABC, BaseModel, Generic[ValueT], frozen=True, arbitrary_types_allowed=True):/' "$SP/mergekit/graph.py"
.reference-venv/bin/python -c "import mergekit.merge, torch, transformers; print('reference environment ready: torch', torch.__version__, 'transformers', transformers.__version__)"
