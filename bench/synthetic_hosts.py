"""Scratch: synthetic series shaped like NAB's unseen categories, with NAB-style label windows."""

import numpy as np

DAY = 86400.0


def windows_for(n, anomalies):
    width = int(0.1 * n / max(1, len(anomalies)))
    return tuple((max(0, a - width // 2), min(n - 1, a + width // 2)) for a in anomalies)


def daily(t, peak_hour=14.0):
    return np.sin(2 * np.pi * ((t % DAY) / 3600 - peak_hour + 6) / 24)


def tweets(seed, anomalies=True):
    rng = np.random.default_rng(seed)
    n, step = 4608 * 2, 300.0
    t = 1.4e9 + np.arange(n) * step
    weekday = ((t // DAY) % 7 < 5).astype(float)
    rate = 20 * np.exp(0.6 * daily(t) + 0.3 * weekday)
    ar = np.zeros(n)
    e = rng.normal(0, 0.12, n)
    for i in range(1, n):
        ar[i] = 0.97 * ar[i - 1] + e[i]
    rate = rate * np.exp(ar)
    for b in rng.integers(0, n - 20, n // 300):  # ordinary small bursts
        rate[b : b + rng.integers(3, 12)] *= rng.uniform(1.5, 3.0)
    labels = []
    if anomalies:
        for a in sorted(rng.choice(np.arange(n // 5, n - 200), 3, replace=False)):
            length = rng.integers(12, 72)
            shape = np.exp(-np.arange(length) / (length / 3))
            rate[a : a + length] *= 1 + rng.uniform(6, 15) * shape
            labels.append(int(a))
    x = rng.negative_binomial(5, 5 / (5 + rate)).astype(float)
    return t, x, windows_for(n, labels)


def machine_temperature(seed, anomalies=True):
    rng = np.random.default_rng(seed)
    n, step = 5760, 300.0
    t = 1.4e9 + np.arange(n) * step
    x = np.zeros(n)
    e = rng.normal(0, 0.4, n)
    for i in range(1, n):
        x[i] = 0.995 * x[i - 1] + e[i]
    x = 85 + x + 1.5 * daily(t) + rng.normal(0, 0.5, n)
    labels = []
    if anomalies:
        a = int(rng.integers(n // 4, n // 2))
        x[a - 500 : a] += np.linspace(0, 8, 500)  # drift before a failure
        fall = np.linspace(0, 55, 12)
        x[a : a + 12] -= fall
        x[a + 12 : a + 120] -= 55
        x[a + 120 : a + 140] -= np.linspace(55, 0, 20)
        labels.append(a)
        b = int(rng.integers(n * 2 // 3, n - 300))
        x[b : b + 30] -= 25
        labels.append(b)
    return t, x, windows_for(n, labels)


def taxi(seed, anomalies=True):
    rng = np.random.default_rng(seed)
    step = 1800.0
    n = 48 * 7 * 20
    t = 1.4e9 - (1.4e9 % (7 * DAY)) + np.arange(n) * step
    hour = (t % DAY) / 3600
    dow = ((t // DAY) + 3) % 7  # 0 = Monday
    weekend = dow >= 5
    weekday_shape = (
        0.3
        + 0.9 * np.exp(-(((hour - 8.5) / 1.5) ** 2))
        + 1.0 * np.exp(-(((hour - 19) / 3) ** 2))
        + 0.4 * (hour > 6) * (hour < 23)
    )
    weekend_shape = 0.4 + 0.9 * np.exp(-(((hour - 14) / 5) ** 2)) + 0.5 * np.exp(-(((hour - 1) / 2) ** 2))
    shape = np.where(weekend, weekend_shape, weekday_shape)
    x = 15000 * shape * np.exp(rng.normal(0, 0.05, n))
    labels = []
    if anomalies:
        days = sorted(rng.choice(np.arange(30, n // 48 - 3), 4, replace=False))
        for d in days:
            if ((d + 3) % 7) >= 5:
                d += 2
            s = int(d * 48)
            x[s : s + 48] = 15000 * weekend_shape[s : s + 48] * np.exp(rng.normal(0, 0.05, 48))
            labels.append(s + 12)
    return t, x, windows_for(n, labels)


def ambient(seed, anomalies=True):
    rng = np.random.default_rng(seed)
    n, step = 24 * 280, 3600.0
    t = 1.4e9 + np.arange(n) * step
    ar = np.zeros(n)
    e = rng.normal(0, 0.25, n)
    for i in range(1, n):
        ar[i] = 0.98 * ar[i - 1] + e[i]
    x = 71 + 3 * np.sin(2 * np.pi * np.arange(n) / (24 * 365)) + 1.2 * daily(t) + ar
    labels = []
    if anomalies:
        a = int(rng.integers(n // 4, n // 2))
        x[a : a + 40] += 9
        labels.append(a)
        b = int(rng.integers(n * 2 // 3, n - 100))
        x[b : b + 20] -= 10
        labels.append(b)
    return t, x, windows_for(n, labels)


def adexchange(seed, anomalies=True):
    rng = np.random.default_rng(seed)
    n, step = 1600, 3600.0
    t = 1.4e9 + np.arange(n) * step + rng.uniform(-600, 600, n)
    keep = rng.uniform(size=n) > 0.02
    x = 0.5 * np.exp(0.3 * daily(t) + rng.normal(0, 0.25, n))
    labels = []
    if anomalies:
        a = int(rng.integers(n // 4, n // 2))
        x[a : a + 3] *= 4
        labels.append(a)
        b = int(rng.integers(n * 2 // 3, n - 50))
        x[b : b + 24] *= 0.35
        labels.append(b)
    t, x = t[keep], x[keep]
    # re-map labels to kept rows
    index = np.cumsum(keep) - 1
    labels = [int(index[label]) for label in labels]
    return t, x, windows_for(t.size, labels)


def traffic(seed, anomalies=True):
    rng = np.random.default_rng(seed)
    n = 2500
    t = 1.4e9 + np.cumsum(
        rng.choice([300.0, 300.0, 300.0, 600.0, 900.0, 3600.0], n, p=[0.6, 0.2, 0.1, 0.05, 0.04, 0.01])
    )
    hour = (t % DAY) / 3600
    x = 5 + 20 * np.exp(-(((hour - 8) / 1.2) ** 2)) + 25 * np.exp(-(((hour - 17.5) / 1.5) ** 2))
    x = np.maximum(x + rng.normal(0, 2.5, n), 0)
    labels = []
    if anomalies:
        a = int(rng.integers(n // 4, n // 2))
        x[a : a + 8] = rng.uniform(0, 1, 8)
        labels.append(a)
        b = int(rng.integers(n * 2 // 3, n - 50))
        x[b : b + 3] += 40
        labels.append(b)
    return t, x, windows_for(n, labels)


def latency(seed, anomalies=True):
    rng = np.random.default_rng(seed)
    n, step = 4032, 300.0
    t = 1.4e9 + np.arange(n) * step
    x = 45 * np.exp(rng.normal(0, 0.15, n))
    for b in rng.integers(0, n, 30):
        x[b] *= rng.uniform(1.5, 3)
    labels = []
    if anomalies:
        for a in sorted(rng.choice(np.arange(n // 5, n - 50), 3, replace=False)):
            x[a : a + rng.integers(2, 10)] *= rng.uniform(5, 12)
            labels.append(int(a))
    return t, x, windows_for(n, labels)


FAMILIES = {
    "tweets": tweets,
    "machine_temperature": machine_temperature,
    "taxi": taxi,
    "ambient": ambient,
    "adexchange": adexchange,
    "traffic": traffic,
    "latency": latency,
}


def corpus(seeds=(1, 2), anomalies=True):
    out = []
    for name, make in FAMILIES.items():
        for seed in seeds:
            t, x, w = make(seed, anomalies)
            out.append((f"{name}_{seed}{'' if anomalies else '_clean'}", t, x, w))
    return out
