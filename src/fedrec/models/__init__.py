"""Models that know nothing of federation: biased MF, NCF, classifiers, GNNs."""
