"""Fashion-MNIST and UCI Adult parse, through the real loader, to their documented statistics."""

import numpy as np

from fedrec.data.labelled import load_adult, load_fashion_mnist


def test_fashion_mnist() -> None:
    data = load_fashion_mnist()
    assert data.train.features.shape == (60_000, 1, 28, 28) and data.test.features.shape == (10_000, 1, 28, 28)
    assert (
        np.bincount(data.train.labels).tolist() == [6_000] * 10
        and np.bincount(data.test.labels).tolist() == [1_000] * 10
    )
    assert 0.0 <= data.train.features.min() and data.train.features.max() == 1.0
    assert data.train.classes[9] == "Ankle boot"


def test_adult_encoding() -> None:
    data = load_adult()
    assert (len(data.train), len(data.test)) == (32_561, 16_281)
    assert np.bincount(data.train.labels).tolist() == [24_720, 7_841]
    assert np.bincount(data.test.labels).tolist() == [12_435, 3_846], "the test file's labels end with a period"
    assert data.train.features.shape[1] == data.test.features.shape[1]
    continuous = data.train.features[:, 0]  # age, standardized on the training set
    assert abs(float(continuous.mean())) < 1e-4 and abs(float(continuous.std()) - 1) < 1e-3
    assert np.isfinite(data.train.features).all() and np.isfinite(data.test.features).all()
    assert (data.train.attributes["workclass"] == "?").sum() == 1_836, "missing values kept as a category"
