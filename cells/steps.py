"""Registry: cell name -> its step function `step(ops, spec, p, k, x, state, ts, training)`.

The same function runs as the float64 reference (`cells.numpy_ops`), in torch
(`cells.torch.ops`) and in TF (`cells.tf.ops`).
"""

from . import cfc, gru, lstm, ltc

STEPS = {"cfc": cfc.step, "ltc": ltc.step, "lstm": lstm.step, "gru": gru.step}
