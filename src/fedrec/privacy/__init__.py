"""Privacy: user-level DP (clipping, calibrated noise, an accountant), local DP, secure aggregation, audits."""
