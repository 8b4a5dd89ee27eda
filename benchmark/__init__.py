"""benchmark: train detectors on dataset variants, score on real data, report D_B vs mAP."""
