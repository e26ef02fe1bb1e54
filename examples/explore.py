"""Explore an audit's results in pandas (run it, or paste the cells into a notebook).

    python examples/explore.py [path/to/workspace]
"""

# %% Load the results of the audit in a workspace (after `muaudit run`)
import sys

from muaudit import load_audit

a = load_audit(sys.argv[1] if len(sys.argv) > 1 else ".")

# %% One row per judged model: the verdict and the strongest evidence for it
print(a.verdicts[["model", "verdict", "evidence"]].to_string(index=False))

# %% The retrain band: what K retrained models agree on, per (metric, layer, role)
print(a.band.head(10).to_string(index=False))

# %% Every metric row, e.g. CKA on the forget set, per model and layer
m = a.metrics
cka = m[(m.metric == "cka") & (m.role == "forget") & (m.reference == "band") & (m.model != "retrain")]
print(cka.pivot_table(index="model", columns="layer", values="value").round(3).to_string())

# %% The activations behind them: one row per sample, units u0, u1, ...
model = a.verdicts.model.iloc[-1]
layer = a.verdicts.evidence_layer.iloc[-1] or "logits"
acts = a.activations(model, layer, roles=("forget",))
print(f"{model} at {layer}: {len(acts)} forget samples x {acts.filter(regex='^u').shape[1]} units")

# %% Where a number came from: the chain of stages back to the dataset
chain = a.lineage("data/metrics", model=model, metric="verdict", layer="")
print(" <- ".join(step["stage"] for step in chain["chain"]), "<-", chain["dataset"]["name"])
