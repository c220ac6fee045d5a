"""The semantic tier and what decides a semantic hit: eligibility, thresholds,
calibration and the verifiers (``verify/``)."""
