"""A Shamir secret from shares of which some may be wrong, accepted only once a public check says it is right.

Revealed shares are not authenticated: a hostile client can reveal garbage. Every secret the server of secure
aggregation reconstructs has a public check, though: a self-mask seed its owner's commitment
(``crypto.commit``), a mask key the public key in the roster. ``recover`` finds a polynomial of degree
``k - 1`` through the shares whose value at 0 passes the check, and says which shares lie off it:

1. Berlekamp-Welch decoding (Reed-Solomon codes; Welch and Berlekamp, US patent 4,633,470, 1986): with m
   shares it corrects up to floor((m - k) / 2) wrong ones in one linear solve over GF(p).
2. Beyond that, subsets of k shares in turn (all of them when there are at most ``MAX_SUBSETS``, else that
   many drawn at random): a subset of right shares gives the secret, which the check recognises.

A wrong share is found only if the check passes on a polynomial it lies off: the check is what makes a
garbage share harmless, so the caller never uses a value that failed it. Arithmetic is on Python integers
(shares are 66-byte field elements); only the server's error path runs this.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable

from fedrec.privacy.secagg.crypto import PRIME

MAX_SUBSETS = 2000


def recover(xs: list[int], ys: list[int], k: int, check: Callable[[int], bool]) -> tuple[int, list[int]] | None:
    """``(secret, wrong)``: the value at 0 of a degree ``k - 1`` polynomial through shares ``(xs[i], ys[i])``
    that ``check`` accepts, and the positions ``i`` whose share lies off that polynomial. None when no such
    polynomial was found (fewer than ``k`` right shares, or too many wrong ones for the search)."""
    if len(xs) < k:
        return None
    coefficients = berlekamp_welch(xs, ys, k)
    if coefficients is None or not check(coefficients[0]):
        coefficients = _search(xs, ys, k, check)
    if coefficients is None:
        return None
    wrong = [i for i, (x, y) in enumerate(zip(xs, ys, strict=True)) if evaluate(coefficients, x) != y]
    return coefficients[0], wrong


def berlekamp_welch(xs: list[int], ys: list[int], k: int) -> list[int] | None:
    """The coefficients (constant first) of the degree ``k - 1`` polynomial that all but at most
    ``(len(xs) - k) // 2`` of the points lie on, or None when there is no such polynomial."""
    errors = (len(xs) - k) // 2
    if errors <= 0:
        return None  # no redundancy to correct with
    # unknowns: Q's k + e coefficients, then E's e lowest (E is monic of degree e); Q(x) = y E(x) at every point
    rows, rhs = [], []
    for x, y in zip(xs, ys, strict=True):
        powers = [pow(x, j, PRIME) for j in range(k + errors)]
        rows.append(powers + [(-y * powers[j]) % PRIME for j in range(errors)])
        rhs.append(y * powers[errors] % PRIME)
    solution = _solve(rows, rhs)
    if solution is None:
        return None
    quotient, exact = _divide(solution[: k + errors], [*solution[k + errors :], 1])
    if not exact:
        return None
    coefficients = (quotient + [0] * k)[:k]
    off = sum(evaluate(coefficients, x) != y for x, y in zip(xs, ys, strict=True))
    return coefficients if off <= errors else None


def evaluate(coefficients: list[int], x: int) -> int:
    """The polynomial with ``coefficients`` (constant first) at ``x``, over GF(2^521 - 1)."""
    value = 0
    for c in reversed(coefficients):
        value = (value * x + c) % PRIME
    return value


def interpolate(xs: list[int], ys: list[int]) -> list[int]:
    """The coefficients of the polynomial of degree < len(xs) through the points (distinct xs)."""
    rows = [[pow(x, j, PRIME) for j in range(len(xs))] for x in xs]
    solution = _solve(rows, list(ys))
    assert solution is not None  # a Vandermonde matrix of distinct points is invertible
    return solution


def _search(xs: list[int], ys: list[int], k: int, check: Callable[[int], bool]) -> list[int] | None:
    """A polynomial through some k of the points whose value at 0 passes ``check``."""
    m = len(xs)
    if math.comb(m, k) <= MAX_SUBSETS:
        subsets: Iterable[tuple[int, ...]] = itertools.combinations(range(m), k)
    else:  # seeded, so that a run's outcome does not depend on luck
        rng = random.Random(0)
        subsets = (tuple(sorted(rng.sample(range(m), k))) for _ in range(MAX_SUBSETS))
    for subset in subsets:
        chosen_x, chosen_y = [xs[i] for i in subset], [ys[i] for i in subset]
        if check(_at_zero(chosen_x, chosen_y)):
            return interpolate(chosen_x, chosen_y)
    return None


def _at_zero(xs: list[int], ys: list[int]) -> int:
    total = 0
    for i, xi in enumerate(xs):
        num, den = 1, 1
        for j, xj in enumerate(xs):
            if j != i:
                num = num * (-xj) % PRIME
                den = den * (xi - xj) % PRIME
        total += ys[i] * num * pow(den, -1, PRIME)
    return total % PRIME


def _solve(rows: list[list[int]], rhs: list[int]) -> list[int] | None:
    """A solution of ``rows @ x = rhs`` over GF(PRIME) (free unknowns 0), or None when there is none
    (Gauss-Jordan elimination)."""
    table = [[v % PRIME for v in row] + [b % PRIME] for row, b in zip(rows, rhs, strict=True)]
    width = len(rows[0])
    pivots: list[int] = []
    for column in range(width):
        r = len(pivots)
        pivot = next((i for i in range(r, len(table)) if table[i][column]), None)
        if pivot is None:
            continue
        table[r], table[pivot] = table[pivot], table[r]
        inverse = pow(table[r][column], -1, PRIME)
        table[r] = [v * inverse % PRIME for v in table[r]]
        for i, row in enumerate(table):
            if i != r and row[column]:
                factor = row[column]
                table[i] = [(a - factor * b) % PRIME for a, b in zip(row, table[r], strict=True)]
        pivots.append(column)
        if len(pivots) == len(table):
            break
    if any(row[-1] for row in table[len(pivots) :]):
        return None
    solution = [0] * width
    for r, column in enumerate(pivots):
        solution[column] = table[r][-1]
    return solution


def _divide(numerator: list[int], monic: list[int]) -> tuple[list[int], bool]:
    """Quotient of two polynomials (constant first; the divisor monic) and whether the remainder is 0."""
    rest = list(numerator)
    degree = len(monic) - 1
    quotient = [0] * max(1, len(rest) - degree)
    for i in range(len(rest) - 1, degree - 1, -1):
        c = rest[i]
        if c:
            quotient[i - degree] = c
            for j, d in enumerate(monic):
                rest[i - degree + j] = (rest[i - degree + j] - c * d) % PRIME
    return quotient, not any(rest[:degree])
