"""math_answer judger throughput: comparisons per second.

    .venvs/main/bin/python benchmarks/math_judger.py [--comparisons 600] [--workers 1 2]

A fixed mix of answer kinds (integers, fractions vs decimals, radicals, polynomials, sets, wrong
answers), judged end to end (extraction, math-verify in the worker processes, the timeout
machinery), from as many threads as there are workers — as the rollout runner calls judgers.
Worker start-up is excluded (warm_up first).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from ajet_plugins_std.judgers.math_answer import MathAnswerConfig, MathAnswerJudger

from ajet_core.schema import Task
from ajet_core.workflow import WorkflowOutput

CASES = [
    (r"\boxed{{{i}}}", "{i}"),
    (r"\boxed{{\frac{{{i}}}{{4}}}}", "{q}"),
    (r"\boxed{{\frac{{\sqrt{{2}}}}{{2}}}}", r"\sqrt{{2}}/2"),
    (r"\boxed{{(x+{i})^2}}", "x^2+{two_i}x+{sq}"),
    (r"\boxed{{\{{{i}, 1\}}}}", r"\{{1,{i}\}}"),
    (r"\boxed{{{wrong}}}", "{i}"),
]


def make_cases(count: int) -> list[tuple[Task, WorkflowOutput]]:
    cases = []
    for n in range(count):
        i = n % 50 + 2
        answer, reference = CASES[n % len(CASES)]
        values = {"i": i, "q": i / 4, "two_i": 2 * i, "sq": i * i, "wrong": i + 1}
        cases.append(
            (
                Task(task_id=str(n), metadata={"answer": reference.format(**values)}),
                WorkflowOutput(metadata={"final_answer": "So " + answer.format(**values)}),
            )
        )
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--comparisons", type=int, default=600)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    cases = make_cases(args.comparisons)
    for workers in args.workers:
        judger = MathAnswerJudger(MathAnswerConfig(workers=workers, timeout=5.0))
        judger.verifier.warm_up()
        with ThreadPoolExecutor(workers) as pool:
            start = time.perf_counter()
            results = list(pool.map(lambda c, j=judger: j.judge(*c), cases))
            elapsed = time.perf_counter() - start
        judger.close()
        correct = sum(r.is_success for r in results)
        timeouts = sum(r.metrics.get("math_timeout", 0) for r in results)
        print(
            f"workers={workers}: {len(cases)} comparisons in {elapsed:.2f} s = "
            f"{len(cases) / elapsed:,.0f}/s ({correct} equal, {timeouts} timed out)"
        )


if __name__ == "__main__":
    main()
