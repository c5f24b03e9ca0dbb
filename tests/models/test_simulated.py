"""SimulatedModel: exact formats, and tolerant seeded checks of its statistics."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import re
import time
from collections import Counter
from fractions import Fraction

import pytest

from forethought.exceptions import UserError
from forethought.models.messages import Message, ModelRequest, ModelSettings, ToolSpec
from forethought.models.simulated import SPEC_KEYS, SimulatedModel, SimulatedTask
from forethought.models.simulated.answers import (
    extract_answer,
    fallback_distractors,
    format_number,
    parse_number,
    same_answer,
)
from forethought.models.simulated.arithmetic import find_arithmetic
from forethought.runtime.budget import Budget, BudgetTracker
from forethought.runtime.context import RunContext

PLAN_LINE = re.compile(r'^(\d+)\. calculator\(expression="([^"]*)"\)$')
JOIN_LINE = re.compile(r"^(\d+)\. join\(\)$")
CALC = "You can use these tools: calculator(expression) evaluates arithmetic."


def req(question: str, *, purpose: str | None = None, n: int = 1, system: str = CALC,
        temperature: float | None = None, **metadata: str) -> ModelRequest:
    return ModelRequest(messages=(Message.system(system), Message.user(question)),
                        purpose=purpose, metadata=metadata,
                        settings=ModelSettings(n=n, temperature=temperature))


def answers(texts: list[str]) -> list[str]:
    return [extract_answer(t) for t in texts]


def sample(model: SimulatedModel, request: ModelRequest) -> list[str]:
    return asyncio.run(model.request(request)).texts


TASKS = [
    SimulatedTask(id="easy", question="Which planet is closest to the Sun?", answer="Mercury",
                  difficulty=0.1, distractors=("Venus", "Mars", "Earth", "Jupiter")),
    SimulatedTask(id="hard", question="Which element has the highest melting point?",
                  answer="Tungsten", difficulty=0.9,
                  distractors=("Carbon", "Rhenium", "Osmium", "Tantalum")),
]


# --- statistics --------------------------------------------------------------------------------

def test_accuracy_falls_with_difficulty() -> None:
    model = SimulatedModel(TASKS, seed=1)
    rates: dict[str, float] = {}
    for task in TASKS:
        got = answers(sample(model, req(task.question, purpose="answer", n=400)))
        rates[task.id] = sum(a == task.answer for a in got) / len(got)
        assert rates[task.id] == pytest.approx(model.accuracy(task.difficulty), abs=0.06)
    assert rates["easy"] > 0.85
    assert rates["hard"] < 0.15
    assert model.accuracy(0.1) > model.accuracy(0.5) > model.accuracy(0.9)
    assert model.accuracy(0.5) == pytest.approx(0.5)
    assert SimulatedModel(skill=0.8).accuracy(0.6) > model.accuracy(0.6)


def test_wrong_answers_concentrate_on_the_top_distractor() -> None:
    model = SimulatedModel(TASKS, seed=2)
    hard = TASKS[1]
    wrong = [a for a in answers(sample(model, req(hard.question, n=400))) if a != hard.answer]
    counts = Counter(wrong)
    assert set(counts) <= set(hard.distractors)
    top, top_count = counts.most_common(1)[0]
    assert top == hard.distractors[0]
    # Zipf weights 1, 1/2^1.5, 1/3^1.5, 1/4^1.5: the top distractor expects ~60% of the errors.
    assert 0.5 < top_count / len(wrong) < 0.7
    uniform = SimulatedModel(TASKS, seed=2, distractor_skew=0.0)
    wrong = [a for a in answers(sample(uniform, req(hard.question, n=400))) if a != hard.answer]
    assert max(Counter(wrong).values()) / len(wrong) < 0.35


def test_majority_vote_is_fooled_at_high_difficulty_only() -> None:
    model = SimulatedModel(seed=3)
    hard = [f"What is {i} * 3 + 4 * 5 - 6 / 2 + {i} * 7 - 8 + 9?" for i in range(1, 21)]
    easy = [f"What is {i} + 17?" for i in range(1, 21)]
    wrong_votes = {"hard": 0, "easy": 0}
    for level, questions in (("hard", hard), ("easy", easy)):
        for q in questions:
            reference = model.reference(req(q))
            assert reference is not None
            vote, _ = Counter(answers(sample(model, req(q, n=15)))).most_common(1)[0]
            wrong_votes[level] += vote != reference.answer
    assert wrong_votes["hard"] >= 10  # a vote over 15 samples settles on a shared distractor
    assert wrong_votes["easy"] == 0


def test_judge_error_rates_match_configuration() -> None:
    model = SimulatedModel(TASKS, seed=4, judge_fpr=0.2, judge_fnr=0.1)
    task = TASKS[0]
    wrong = sample(model, req(task.question, purpose="judge", n=500, candidate="Venus"))
    right = sample(model, req(task.question, purpose="judge", n=500, candidate="mercury."))
    assert {t.splitlines()[0] for t in wrong + right} == {"Yes", "No"}
    fpr = sum(t.startswith("Yes") for t in wrong) / len(wrong)
    fnr = sum(t.startswith("No") for t in right) / len(right)
    assert fpr == pytest.approx(0.2, abs=0.06)
    assert fnr == pytest.approx(0.1, abs=0.05)


def test_judge_rates_can_rise_with_difficulty() -> None:
    model = SimulatedModel(judge_fpr=0.15, judge_fnr=0.1, judge_difficulty_slope=0.2)
    assert model.judge_error_rates(0.5) == pytest.approx((0.15, 0.1))
    assert model.judge_error_rates(1.0) == pytest.approx((0.25, 0.2))
    assert model.judge_error_rates(0.0) == pytest.approx((0.05, 0.0))


def test_judge_reads_a_candidate_line_when_no_metadata() -> None:
    model = SimulatedModel(seed=5, judge_fpr=0.0, judge_fnr=0.0)
    yes = sample(model, req("Is this right? What is 6 * 7?\nCandidate: 42", purpose="judge"))
    no = sample(model, req("What is 6 * 7?\nAnswer: 41", purpose="judge"))
    missing = sample(model, req("What is 6 * 7?", purpose="judge"))
    assert yes[0].startswith("Yes\n")
    assert no[0].startswith("No\n")
    assert missing == ["No\nNo candidate answer was given."]


def test_scores_are_higher_for_right_answers() -> None:
    model = SimulatedModel(TASKS, seed=6)
    task = TASKS[0]
    scores: dict[str, list[float]] = {}
    for candidate in ("Mercury", "Venus"):
        texts = sample(model, req(task.question, purpose="score", n=300, candidate=candidate))
        for t in texts:
            assert re.fullmatch(r"Score: [01]\.\d\d", t)
        scores[candidate] = [float(t.removeprefix("Score: ")) for t in texts]
    right, wrong = (sum(s) / len(s) for s in scores.values())
    assert right == pytest.approx(0.8 - 0.2 * task.difficulty, abs=0.05)
    assert wrong == pytest.approx(0.2 + 0.2 * task.difficulty, abs=0.05)
    assert all(0.0 <= s <= 1.0 for s in scores["Mercury"] + scores["Venus"])


# --- determinism and independence -------------------------------------------------------------

def _batch(model: SimulatedModel, requests: list[ModelRequest]) -> list[list[str]]:
    async def run() -> list[list[str]]:
        return [(await model.request(r)).texts for r in requests]
    return asyncio.run(run())


def test_same_seed_same_outputs_whatever_the_order() -> None:
    requests = [req(f"What is {i} * 7 - 3 * 4 + 2 * {i}?", n=3) for i in range(30)]
    requests += [req(TASKS[1].question, purpose="judge", candidate="Rhenium")]
    first = _batch(SimulatedModel(TASKS, seed=7), requests)
    again = _batch(SimulatedModel(TASKS, seed=7), requests)
    backwards = _batch(SimulatedModel(TASKS, seed=7), requests[::-1])[::-1]
    other_seed = _batch(SimulatedModel(TASKS, seed=8), requests)
    assert first == again == backwards
    assert first != other_seed


def test_concurrent_calls_match_sequential_calls() -> None:
    requests = [req(f"What is {i} * 9 - 8 * 7 + 6?", purpose=p)
                for i in range(10) for p in ("answer", "plan")]
    sequential = _batch(SimulatedModel(seed=9), requests)

    async def concurrent() -> list[list[str]]:
        model = SimulatedModel(seed=9, sleep=True, time_scale=0.001)
        responses = await asyncio.gather(*(model.request(r) for r in reversed(requests)))
        return [r.texts for r in reversed(responses)]

    assert asyncio.run(concurrent()) == sequential


def test_repeated_identical_calls_are_fresh_samples() -> None:
    model = SimulatedModel(seed=10)
    request = req("What is 3 * 4 + 5 * 6 - 7 + 8 / 2?")  # difficulty 5/8: accuracy ~0.27
    repeats = [sample(model, request)[0] for _ in range(40)]
    assert len(set(answers(repeats))) > 2
    replay = SimulatedModel(seed=10)
    assert [sample(replay, request)[0] for _ in range(40)] == repeats


def test_n_samples_in_one_call_are_independent() -> None:
    task = SimulatedTask(id="mid", question="Pick the odd one out.", answer="B", difficulty=0.5)
    model = SimulatedModel([task], seed=11)
    response = asyncio.run(model.request(req(task.question, n=300)))
    assert len(response.choices) == 300
    got = answers(response.texts)
    assert sum(a == "B" for a in got) / 300 == pytest.approx(0.5, abs=0.1)
    assert set(got) - {"B"} <= set(fallback_distractors("B"))  # A, C, D made up for a letter
    # Independence: the chance of a right answer after a right one is that of any sample.
    after_right = [b == "B" for a, b in itertools.pairwise(got) if a == "B"]
    assert sum(after_right) / len(after_right) == pytest.approx(0.5, abs=0.15)


def test_temperature_zero_is_greedy() -> None:
    model = SimulatedModel(seed=12)
    request = req("What is 3 * 4 + 5 * 6 - 7 + 8 / 2?", n=5, temperature=0)
    texts = sample(model, request) + sample(model, request)
    assert len(set(texts)) == 1


# --- plans -------------------------------------------------------------------------------------

def parse_plan(text: str) -> list[tuple[int, str]]:
    """Check the plan format strictly; return (number, expression) of the calculator tasks."""
    lines = text.splitlines()
    join = JOIN_LINE.match(lines[-1])
    assert join, lines[-1]
    tasks: list[tuple[int, str]] = []
    for line in lines[:-1]:
        m = PLAN_LINE.match(line)
        assert m, line
        tasks.append((int(m.group(1)), m.group(2)))
    numbers = [n for n, _ in tasks] + [int(join.group(1))]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    for number, expression in tasks:
        assert all(int(ref) < number for ref in re.findall(r"\$(\d+)", expression))
    return tasks


def run_plan(tasks: list[tuple[int, str]]) -> Fraction:
    """Evaluate a plan by hand: substitute results, then one ``a op b`` per task."""
    results: dict[int, Fraction] = {}
    for number, expression in tasks:
        m = re.fullmatch(r"(\S+) ([-+*/]) (\S+)", expression)
        assert m, expression
        left, op, right = m.groups()

        def value(operand: str) -> Fraction:
            ref = re.fullmatch(r"(-?)\$(\d+)", operand)
            if ref is None:
                return Fraction(operand)
            return -results[int(ref.group(2))] if ref.group(1) else results[int(ref.group(2))]

        a, b = value(left), value(right)
        results[number] = {"+": a + b, "-": a - b, "*": a * b, "/": a / b}[op]
    return results[tasks[-1][0]]


def test_plan_format_matches_llmcompiler() -> None:
    model = SimulatedModel(skill=10.0)  # no mistakes
    text = sample(model, req("What is (3 + 4) * 12 - 5?", purpose="plan"))[0]
    assert text == ('1. calculator(expression="3 + 4")\n'
                    '2. calculator(expression="$1 * 12")\n'
                    '3. calculator(expression="$2 - 5")\n'
                    "4. join()")


def test_independent_subexpressions_are_parallel_tasks() -> None:
    model = SimulatedModel(skill=10.0)
    tasks = parse_plan(sample(model, req("(1+2)*(3+4)", purpose="plan"))[0])
    assert tasks == [(1, "1 + 2"), (2, "3 + 4"), (3, "$1 * $2")]


@pytest.mark.parametrize("question", ["What is (3 + 4) * 12 - 5?", "compute 2.5*4+1",
                                      "What is -(8 - 3) * (2 + 6 / 4) - 1.25?",
                                      "((1+2)*(3+4) - 5) / (6 - 2*2)"])
def test_correct_plan_evaluates_to_the_reference(question: str) -> None:
    model = SimulatedModel(skill=10.0)
    reference = model.reference(req(question))
    assert reference is not None
    value = run_plan(parse_plan(sample(model, req(question, purpose="plan"))[0]))
    assert same_answer(format_number(value), reference.answer)


def test_plans_have_mistakes_as_often_as_answers_are_wrong() -> None:
    question = "What is 3 * 4 + 5 * 6 - 7 + 8 / 2?"
    model = SimulatedModel(seed=13)
    reference = model.reference(req(question))
    assert reference is not None
    plans = sample(model, req(question, purpose="plan", n=300))
    right = sum(format_number(run_plan(parse_plan(p))) == reference.answer for p in plans)
    assert right / 300 == pytest.approx(model.accuracy(reference.difficulty), abs=0.08)
    always_wrong = SimulatedModel(skill=-10.0)
    for plan in sample(always_wrong, req(question, purpose="plan", n=20)):
        assert format_number(run_plan(parse_plan(plan))) != reference.answer


def test_plan_numbering_continues_after_offset() -> None:
    model = SimulatedModel(skill=10.0)
    text = sample(model, req("(1+2)*(3+4)", purpose="plan", task_offset="4"))[0]
    assert parse_plan(text) == [(5, "1 + 2"), (6, "3 + 4"), (7, "$5 * $6")]
    assert text.endswith("\n8. join()")


def test_plan_without_calculator_or_for_known_tasks_is_a_join() -> None:
    model = SimulatedModel(TASKS, skill=10.0)
    no_tool = req("What is 2 * 3 + 1?", purpose="plan", system="Answer questions.")
    other_tools = req("What is 2 * 3 + 1?", purpose="plan", tools="search, clock")
    listed = req("What is 2 * 3 + 1?", purpose="plan", system="", tools="search,calculator")
    assert sample(model, no_tool) == ["1. join()"]
    assert sample(model, other_tools) == ["1. join()"]
    assert len(parse_plan(sample(model, listed)[0])) == 2
    spec = ToolSpec(name="calculator", description="", parameters={})
    with_spec = ModelRequest(messages=(Message.user("What is 2 * 3 + 1?"),), tools=(spec,),
                             purpose="plan")
    assert len(parse_plan(sample(model, with_spec)[0])) == 2
    assert sample(model, req(TASKS[0].question, purpose="plan", task_offset="2")) == ["3. join()"]


# --- join -------------------------------------------------------------------------------------

JOIN_PROMPT = """Question: What is (3 + 4) * 12 - 5?
1. calculator(expression="3 + 4") -> 7
2. calculator(expression="$1 * 12") -> 84
3. calculator(expression="$2 - 5") -> {last}"""


def test_join_finishes_with_the_last_result() -> None:
    model = SimulatedModel(seed=14)
    texts = sample(model, req(JOIN_PROMPT.format(last="79"), purpose="join", n=5))
    assert set(texts) == {"Thought: task 3 gives the final result.\nAction: Finish(79)"}


def test_join_replans_on_error_while_replans_are_left() -> None:
    model = SimulatedModel(seed=15)
    prompt = JOIN_PROMPT.format(last="ERROR: unknown reference $2")
    replan = sample(model, req(prompt, purpose="join", replans_left="1"))[0]
    assert replan.startswith("Thought: a step failed.\nAction: Replan(task 3 (calculator) failed:")
    assert replan.endswith(")")
    final = sample(model, req(prompt, purpose="join", replans_left="0"))[0]
    assert final.endswith("Action: Finish(84)")  # the highest-numbered successful task
    assert sample(model, req(prompt, purpose="join"))[0].endswith("Action: Finish(84)")


def test_join_answers_directly_without_results() -> None:
    model = SimulatedModel(TASKS, seed=16)
    easy = TASKS[0]
    texts = sample(model, req(easy.question, purpose="join", n=50))
    finals = [re.fullmatch(r"Thought: .+\nAction: Finish\((.+)\)", t) for t in texts]
    got = [m.group(1) for m in finals if m]
    assert len(got) == 50
    assert Counter(got).most_common(1)[0][0] == "Mercury"
    arithmetic = sample(SimulatedModel(skill=10.0), req("What is 6 * 7?", purpose="join"))
    assert arithmetic[0].endswith("Action: Finish(42)")


# --- unknown questions, usage, timing, streaming -----------------------------------------------

def test_unknown_questions_get_an_honest_dont_know() -> None:
    model = SimulatedModel(TASKS, seed=17)
    assert model.reference(req("Who wrote Hamlet?")) is None
    text = sample(model, req("Who wrote Hamlet?"))[0]
    assert extract_answer(text) == "I don't know."
    assert sample(model, req("Who wrote Hamlet?", purpose="judge", candidate="Shakespeare")
                  )[0].startswith("No\n")
    assert sample(model, req("Who wrote Hamlet?", purpose="plan")) == ["1. join()"]
    assert sample(model, req("Who wrote Hamlet?", purpose="join"))[0].endswith(
        "Action: Finish(I don't know.)")
    assert model.reference(req("What is 1/0 + 2?")) is None  # undefined, so not known


async def test_usage_through_run_context_without_sleeping() -> None:
    model = SimulatedModel(TASKS, seed=18, mean_latency_s=30.0, input_price_per_mtok=1.0,
                           output_price_per_mtok=4.0)
    ctx = RunContext(model=model, budget=BudgetTracker(budget=Budget(max_model_calls=100)))
    request = req(TASKS[0].question, n=3)
    start = time.perf_counter()
    responses = [await ctx.complete(request) for _ in range(20)]
    assert time.perf_counter() - start < 1.0  # 20 calls of ~30 s simulated latency each
    usage = responses[0].usage
    assert usage.prompt_tokens == request.prompt_chars() // 4
    assert usage.completion_tokens == sum(len(t) // 4 for t in responses[0].texts)
    assert usage.model_calls == 1
    assert usage.cost_usd == pytest.approx(
        (usage.prompt_tokens * 1.0 + usage.completion_tokens * 4.0) / 1e6)
    latencies = [r.usage.latency_s for r in responses]
    assert all(lat > 0 for lat in latencies)
    assert len(set(latencies)) == 20
    assert ctx.budget.spent.model_calls == 20
    assert responses[0].model == "simulated"
    assert not responses[0].cached


def test_latency_is_lognormal_around_the_mean() -> None:
    model = SimulatedModel(seed=19, mean_latency_s=0.8)
    latencies = [asyncio.run(model.request(req("What is 1 + 1?"))).usage.latency_s
                 for _ in range(400)]
    assert sum(latencies) / len(latencies) == pytest.approx(0.8, rel=0.1)
    assert SimulatedModel().cacheable is False


async def test_sleep_waits_the_simulated_latency_and_runs_in_parallel() -> None:
    model = SimulatedModel(seed=20, mean_latency_s=0.05, sleep=True)
    start = time.perf_counter()
    response = await model.request(req("What is 2 + 2?"))
    assert time.perf_counter() - start >= response.usage.latency_s * 0.9
    start = time.perf_counter()
    responses = await asyncio.gather(*(model.request(req(f"What is {i} + 2?"))
                                       for i in range(8)))
    elapsed = time.perf_counter() - start
    assert max(r.usage.latency_s for r in responses) * 0.9 <= elapsed
    assert elapsed < sum(r.usage.latency_s for r in responses)


async def test_stream_delivers_the_plan_line_by_line() -> None:
    model = SimulatedModel(skill=10.0)
    ctx = RunContext(model=model)
    seen: list[str] = []
    arrivals: list[int] = []

    def on_text(chunk: str) -> None:
        seen.append(chunk)

    async def watcher() -> None:
        for _ in range(10):
            arrivals.append(len(seen))
            await asyncio.sleep(0)

    request = req("What is (3 + 4) * 12 - 5?", purpose="plan")
    response, _ = await asyncio.gather(ctx.complete(request, on_text=on_text), watcher())
    assert "".join(seen) == response.text
    assert seen == response.text.splitlines(keepends=True)
    assert len(set(arrivals)) > 2  # other tasks ran while the lines were still arriving


# --- the oracle ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("question", "answer", "operators"), [
    ("What is (3 + 4) * 12 - 5?", "79", 3),
    ("compute 2.5*4+1", "11", 2),
    ("compute 2.5*4+1.", "11", 2),
    ("What is 1/3?", "0.333333", 1),
    ("What is 7 ÷ 2?", "3.5", 1),
    ("What is -(3+4)*2?", "-14", 2),
    ("(see above) what is 3+4", "7", 1),
    ("Step 1: what is 10 - 2 * 3?", "4", 2),
])
def test_oracle_solves_arithmetic_exactly(question: str, answer: str, operators: int) -> None:
    found = find_arithmetic(question)
    assert found is not None
    assert (found.answer, found.operators) == (answer, operators)
    assert found.difficulty == min(1.0, operators / 8)
    assert answer not in found.distractors()


@pytest.mark.parametrize("question", ["Who wrote Hamlet?", "Is x + 1 > 2?", "What is 42?",
                                      "__import__('os').system('true') + 1", "What is 2 ** 8?",
                                      "on 2024-01-05", "What is 5 / 0?"])
def test_oracle_rejects_what_is_not_arithmetic(question: str) -> None:
    assert find_arithmetic(question) is None


def test_arithmetic_distractors_are_plausible_slips() -> None:
    found = find_arithmetic("What is 2 + 3 * 4?")
    assert found is not None
    assert found.answer == "14"
    assert found.distractors() == ("20", "15", "-10", "13", "9")  # precedence ignored first


def test_answers_compare_by_value_and_text() -> None:
    assert same_answer("79.0", "79")
    assert same_answer("0.3333333333333333", "0.333333")
    assert same_answer("1,000", "1000")
    assert not same_answer("0.33", "0.333333")
    assert same_answer(" mercury. ", "Mercury")
    assert parse_number("1/4") == Fraction(1, 4)
    assert parse_number("Mercury") is None
    assert format_number(Fraction(1, 3000000)) == "0.000000333333"
    assert format_number(Fraction(-5, 2)) == "-2.5"
    assert extract_answer("Thought: x\nAction: Finish(42)") == "42"
    assert fallback_distractors("yes") == ("no",)
    assert fallback_distractors("42")[:2] == ("43", "41")


# --- construction -----------------------------------------------------------------------------

def test_tasks_are_found_by_id_then_longest_question() -> None:
    short = SimulatedTask(id="s", question="capital of France", answer="Paris", difficulty=0.2)
    long = SimulatedTask(id="l", question="What is the capital of France in 1000 AD?",
                         answer="Paris", difficulty=0.7)
    model = SimulatedModel([short, long])
    assert model.reference(req("Q: What is the capital of France in 1000 AD?")) == long
    assert model.reference(req("The capital of France?")) == short
    assert model.reference(req("anything", instance_id="l")) == long
    assert model.reference(req("What is 1 + 1?", instance_id="nope")) is not None  # arithmetic
    assert set(model.tasks) == {"s", "l"}


def test_invalid_tasks_and_parameters_are_user_errors() -> None:
    with pytest.raises(UserError, match="difficulty"):
        SimulatedTask(id="x", question="q", answer="a", difficulty=1.5)
    with pytest.raises(UserError, match="is the answer"):
        SimulatedTask(id="x", question="q", answer="42", difficulty=0.5, distractors=("42.0",))
    with pytest.raises(UserError, match="judge_fpr"):
        SimulatedModel(judge_fpr=1.5)
    with pytest.raises(UserError, match="mean_latency_s"):
        SimulatedModel(mean_latency_s=-1)
    task = SimulatedTask(id="x", question="q", answer="a", difficulty=0.5)
    with pytest.raises(UserError, match="'x'"):
        SimulatedModel([task, SimulatedTask(id="x", question="q2", answer="b", difficulty=0.5)])
    with pytest.raises(UserError, match="task_offset"):
        sample(SimulatedModel(), req("What is 1 + 1?", purpose="plan", task_offset="two"))


def test_from_spec() -> None:
    assert SimulatedModel.from_spec("simulated").name == "simulated"
    model = SimulatedModel.from_spec("simulated:seed=3, skill=0.6,sleep=false,name=sim-a")
    assert (model.seed, model.accuracy(0.6), model.sleep, model.name) == (3, 0.5, False, "sim-a")
    reference = SimulatedModel(seed=3, skill=0.6)
    request = req("What is 3 * 4 + 5 * 6 - 7?", n=10)
    assert sample(model, request) == sample(reference, request)
    with_tasks = SimulatedModel.from_spec("simulated:seed=1", tasks=TASKS)
    assert set(with_tasks.tasks) == {"easy", "hard"}


def test_spec_keys_are_the_constructor_keywords() -> None:
    params = inspect.signature(SimulatedModel).parameters
    assert set(SPEC_KEYS) == {name for name, p in params.items() if p.kind == p.KEYWORD_ONLY}


@pytest.mark.parametrize(("spec", "message"), [
    ("simulated:temperature=1", r"unknown key 'temperature'; valid keys: seed, skill, "),
    ("simulated:seed", r"'seed' is not key=value"),
    ("simulated:seed=three", r"seed='three' must be an integer"),
    ("simulated:skill=nan", r"skill='nan' must be a number"),
    ("simulated:sleep=maybe", r"sleep='maybe' must be true or false"),
    ("simulated:seed=1,seed=2", r"'seed' is given twice"),
    ("openai/gpt-4o", r"does not name the simulated model"),
    ("simulated:judge_fnr=2", r"judge_fnr must be in \[0.0, 1.0\], got 2.0"),
])
def test_from_spec_errors_name_the_problem(spec: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        SimulatedModel.from_spec(spec)
