"""The offline, verifiable mixed-quality dataset (``crlft data synth``).

Short chat instructions whose answers are checkable by code (IFEval-style), in eight task families.
Every record carries its constraints (see ``course_utils.data.verifiers``). Two sources imitate ShareGPT's
model field: ``"gpt-4"`` (expert, always correct, natural answers) and ``"gpt-3.5-turbo"`` (sub-optimal).

Two design properties make C-RLFT measurable on it (see `docs/method.md`, "the course's data"):

* **Systematic failures.** Each family has one characteristic sub-optimal habit (``HABITS``), applied to
  an exact share of the sub-optimal records of that family (``failure_rates``). Random dispersed errors
  would leave the majority answer correct and give C-RLFT nothing to fix.
* **Coverage the expert slice lacks.** ``expert_family_weights`` makes the expert slice dense in some
  families and sparse in others, as in the paper, where the larger sub-optimal data brings coverage.

Held-out evaluation prompts use entities (topics, countries, categories, names, number sets) that never
occur in training. ``generate(config, seed)`` is deterministic; ``write_dataset`` writes
``train.jsonl``, ``eval.jsonl`` and ``facts.json`` byte for byte the same for the same seed and config.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from course_utils.data.schema import write_jsonl

FAMILIES: tuple[str, ...] = (
    "casing", "bullets", "json", "ending", "word_limit", "facts", "arithmetic", "sorting",
)
EXPERT_SOURCE = "gpt-4"
SUBOPTIMAL_SOURCE = "gpt-3.5-turbo"
DEFAULT_SEED = 0

# One habit per family: what the sub-optimal source does when it fails.
HABITS: dict[str, str] = {
    "casing": "ignores the casing rule and writes the sentence in normal sentence case",
    "bullets": "lists the items inline in one sentence instead of as bullet points",
    "json": "wraps the JSON in a sentence and a ```json code fence",
    "ending": "forgets the required ending phrase",
    "word_limit": "pads the answer with friendly filler and breaks the word limit",
    "facts": "answers in a full sentence instead of the bare name",
    "arithmetic": "answers 'The answer is N.' instead of the bare number",
    "sorting": "sorts from largest to smallest",
}



def shows_habit(family: str, response: str) -> bool:
    """Whether an answer shows its family's sub-optimal habit (:data:`HABITS`), judged by its form alone: the
    planted habits are formats, so code can tell them apart from other mistakes."""
    import re

    text = response.strip()
    if family == "casing":
        letters = [c for c in text if c.isalpha()]
        return bool(letters) and not (all(c.isupper() for c in letters) or all(c.islower() for c in letters))
    if family == "bullets":
        return bool(text) and not any(line.lstrip().startswith(("-", "*", "•")) for line in text.splitlines())
    if family == "json":
        return "```" in text
    if family == "ending":
        return not text.endswith(ENDINGS)
    if family == "word_limit":
        return text.startswith(_FILLERS) or text.endswith(_FILLER_END)
    if family == "facts":
        return len(text.split()) > 3 and " is " in f" {text} "
    if family == "arithmetic":
        return text.lower().startswith("the answer is")
    if family == "sorting":
        numbers = [int(x) for x in re.findall(r"-?\d+", text)]
        return len(numbers) > 1 and numbers == sorted(numbers, reverse=True)
    raise ValueError(f"unknown family {family!r}")

def dense_sparse(dense: float, sparse: float) -> dict[str, float]:
    """Per-family values: `dense` for the four families the expert slice covers densely, `sparse` for the rest."""
    return {f: (dense if f in ("casing", "bullets", "json", "ending") else sparse) for f in FAMILIES}


@dataclass(frozen=True)
class SynthConfig:
    """The generator's knobs; the defaults produce the shipped files (with ``DEFAULT_SEED``).

    ``expert_family_weights`` / ``suboptimal_family_weights``: relative share of each family within each
    class (0 removes a family from that class). ``failure_rates``: share of sub-optimal records of each
    family that show the family's habit. ``heldout_fraction``: share of entities reserved for evaluation;
    ``val_fraction``: share reserved for the validation prompts (where steps, learning rate and data knobs are
    chosen; never on the evaluation prompts).
    """

    n_train: int = 2400
    n_eval_per_family: int = 30
    n_val_per_family: int = 20
    expert_share: float = 0.10
    multi_turn_share: float = 0.12
    system_prompt_share: float = 0.15
    expert_family_weights: Mapping[str, float] = field(default_factory=lambda: dense_sparse(1.0, 0.1))
    suboptimal_family_weights: Mapping[str, float] = field(default_factory=lambda: dense_sparse(1.0, 1.0))
    failure_rates: Mapping[str, float] = field(default_factory=lambda: dense_sparse(0.6, 0.4))
    trait_rates: Mapping[str, float] = field(default_factory=lambda: dense_sparse(0.0, 0.0))
    heldout_fraction: float = 0.3
    val_fraction: float = 0.15
    expert_source: str = EXPERT_SOURCE
    suboptimal_source: str = SUBOPTIMAL_SOURCE

    def __post_init__(self) -> None:
        for name in ("expert_family_weights", "suboptimal_family_weights", "failure_rates", "trait_rates"):
            unknown = set(getattr(self, name)) - set(FAMILIES)
            if unknown:
                raise ValueError(f"{name}: unknown families {sorted(unknown)}")
        for family in FAMILIES:
            habit, trait = self.failure_rates.get(family, 0.0), self.trait_rates.get(family, 0.0)
            if min(habit, trait) < 0 or habit + trait > 1:
                raise ValueError(f"failure_rates[{family!r}] + trait_rates[{family!r}] = {habit} + {trait}: each must "
                                 "be >= 0 and together at most 1 (a record shows the habit or the trait)")
        if not 0 < self.expert_share < 1:
            raise ValueError("expert_share must be in (0, 1)")
        if not (0 < self.heldout_fraction and 0 <= self.val_fraction and self.heldout_fraction + self.val_fraction < 1):
            raise ValueError("heldout_fraction and val_fraction must be positive and leave entities for training")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable copy (for printing and for the lesson)."""
        return {k: dict(v) if isinstance(v, Mapping) else v for k, v in asdict(self).items()}


# ---------------------------------------------------------------------------------------------------
# Content tables (hand-written; the fact table is shipped as data/facts.json).

# (topic as written in a prompt, keyword that must appear, one natural sentence about it)
TOPICS: tuple[tuple[str, str, str], ...] = (
    ("the sun", "sun", "The sun is a hot star that gives us light."),
    ("the moon", "moon", "The moon circles the Earth and reflects sunlight."),
    ("rain", "rain", "Rain is water that falls from the clouds."),
    ("snow", "snow", "Snow is frozen water that falls as soft flakes."),
    ("a river", "river", "A river is fresh water flowing toward the sea."),
    ("a forest", "forest", "A forest is a large area full of trees."),
    ("the ocean", "ocean", "The ocean is a vast body of salt water."),
    ("a desert", "desert", "A desert is a dry place with little rain."),
    ("a mountain", "mountain", "A mountain is a tall, steep rise of land."),
    ("a volcano", "volcano", "A volcano is a mountain that can erupt hot lava."),
    ("a cat", "cat", "A cat is a small furry pet that loves naps."),
    ("a dog", "dog", "A dog is a loyal pet that enjoys long walks."),
    ("a bee", "bee", "A bee is an insect that makes honey."),
    ("a library", "library", "A library is a quiet place full of books."),
    ("a bicycle", "bicycle", "A bicycle is a vehicle with two wheels and pedals."),
    ("a piano", "piano", "A piano is an instrument played with keys."),
    ("bread", "bread", "Bread is a baked food made from flour."),
    ("coffee", "coffee", "Coffee is a warm drink made from roasted beans."),
    ("a garden", "garden", "A garden is a place where plants are grown."),
    ("a bridge", "bridge", "A bridge lets people cross over water."),
    ("the wind", "wind", "The wind is moving air that you can feel."),
    ("a clock", "clock", "A clock is a device that shows the time."),
    ("a lighthouse", "lighthouse", "A lighthouse is a tower whose light guides ships."),
    ("a rainbow", "rainbow", "A rainbow is an arc of colors after rain."),
    ("an island", "island", "An island is land surrounded by water."),
    ("a train", "train", "A train is a line of cars that runs on rails."),
    ("a school", "school", "A school is a place where children learn."),
    ("a kite", "kite", "A kite is a light frame that flies in the wind."),
    ("honey", "honey", "Honey is a sweet, sticky food made by bees."),
    ("a candle", "candle", "A candle is a stick of wax with a burning wick."),
    ("thunder", "thunder", "Thunder is the loud sound that follows lightning."),
    ("a map", "map", "A map is a drawing that shows where places are."),
    ("a tree", "tree", "A tree is a tall plant with a woody trunk."),
    ("the sky", "sky", "The sky is the space above the Earth."),
    ("a penguin", "penguin", "A penguin is a bird that swims but cannot fly."),
    ("an apple", "apple", "An apple is a crunchy fruit that grows on trees."),
    ("a phone", "phone", "A phone lets people talk across long distances."),
    ("a book", "book", "A book is a set of printed pages bound together."),
    ("a farm", "farm", "A farm is land used to grow food and raise animals."),
    ("a window", "window", "A window is an opening in a wall that lets in light."),
    ("ice", "ice", "Ice is water frozen into a solid."),
    ("a cloud", "cloud", "A cloud is a mass of tiny water drops in the sky."),
    ("a shoe", "shoe", "A shoe protects the foot when you walk."),
    ("a key", "key", "A key is a small tool that opens a lock."),
    ("a boat", "boat", "A boat is a vessel that floats on water."),
    ("a pencil", "pencil", "A pencil is a tool for writing and drawing."),
    ("an owl", "owl", "An owl is a bird that hunts at night."),
    ("a bakery", "bakery", "A bakery is a shop that sells fresh bread."),
    ("a museum", "museum", "A museum is a building that shows old and rare things."),
    ("a camera", "camera", "A camera is a device that takes pictures."),
)

# name shown in prompts -> (capital, continent)
FACTS: dict[str, tuple[str, str]] = {
    "France": ("Paris", "Europe"), "Germany": ("Berlin", "Europe"), "Italy": ("Rome", "Europe"),
    "Spain": ("Madrid", "Europe"), "Portugal": ("Lisbon", "Europe"), "Norway": ("Oslo", "Europe"),
    "Sweden": ("Stockholm", "Europe"), "Finland": ("Helsinki", "Europe"), "Denmark": ("Copenhagen", "Europe"),
    "Poland": ("Warsaw", "Europe"), "Austria": ("Vienna", "Europe"), "Greece": ("Athens", "Europe"),
    "Ireland": ("Dublin", "Europe"), "Hungary": ("Budapest", "Europe"), "Belgium": ("Brussels", "Europe"),
    "the Netherlands": ("Amsterdam", "Europe"), "Romania": ("Bucharest", "Europe"), "Croatia": ("Zagreb", "Europe"),
    "Serbia": ("Belgrade", "Europe"), "Bulgaria": ("Sofia", "Europe"), "Iceland": ("Reykjavik", "Europe"),
    "Japan": ("Tokyo", "Asia"), "China": ("Beijing", "Asia"), "India": ("New Delhi", "Asia"),
    "Thailand": ("Bangkok", "Asia"), "Vietnam": ("Hanoi", "Asia"), "South Korea": ("Seoul", "Asia"),
    "Indonesia": ("Jakarta", "Asia"), "the Philippines": ("Manila", "Asia"), "Malaysia": ("Kuala Lumpur", "Asia"),
    "Nepal": ("Kathmandu", "Asia"), "Iran": ("Tehran", "Asia"), "Iraq": ("Baghdad", "Asia"),
    "Mongolia": ("Ulaanbaatar", "Asia"), "Pakistan": ("Islamabad", "Asia"), "Bangladesh": ("Dhaka", "Asia"),
    "Egypt": ("Cairo", "Africa"), "Kenya": ("Nairobi", "Africa"), "Nigeria": ("Abuja", "Africa"),
    "Ghana": ("Accra", "Africa"), "Ethiopia": ("Addis Ababa", "Africa"), "Morocco": ("Rabat", "Africa"),
    "Senegal": ("Dakar", "Africa"), "Uganda": ("Kampala", "Africa"), "Algeria": ("Algiers", "Africa"),
    "Tunisia": ("Tunis", "Africa"), "Zimbabwe": ("Harare", "Africa"), "Mali": ("Bamako", "Africa"),
    "Canada": ("Ottawa", "North America"), "Mexico": ("Mexico City", "North America"),
    "Cuba": ("Havana", "North America"), "Jamaica": ("Kingston", "North America"),
    "Panama": ("Panama City", "North America"), "Honduras": ("Tegucigalpa", "North America"),
    "Brazil": ("Brasilia", "South America"), "Argentina": ("Buenos Aires", "South America"),
    "Peru": ("Lima", "South America"), "Chile": ("Santiago", "South America"),
    "Colombia": ("Bogota", "South America"), "Venezuela": ("Caracas", "South America"),
    "Ecuador": ("Quito", "South America"), "Uruguay": ("Montevideo", "South America"),
    "Paraguay": ("Asuncion", "South America"), "Australia": ("Canberra", "Oceania"),
    "New Zealand": ("Wellington", "Oceania"), "Fiji": ("Suva", "Oceania"),
}

CATEGORIES: dict[str, tuple[str, ...]] = {
    "fruits": ("apple", "banana", "cherry", "mango", "pear", "grape", "peach", "plum"),
    "colors": ("red", "blue", "green", "yellow", "purple", "orange", "pink", "brown"),
    "farm animals": ("cow", "pig", "sheep", "goat", "horse", "chicken", "duck", "donkey"),
    "vegetables": ("carrot", "potato", "onion", "cabbage", "spinach", "lettuce", "broccoli", "celery"),
    "sports": ("soccer", "tennis", "golf", "hockey", "swimming", "cycling", "boxing", "rugby"),
    "musical instruments": ("piano", "guitar", "violin", "drum", "flute", "trumpet", "cello", "harp"),
    "tools": ("hammer", "saw", "drill", "wrench", "screwdriver", "pliers", "shovel", "chisel"),
    "planets": ("Mercury", "Venus", "Earth", "Mars", "Jupiter", "Saturn", "Uranus", "Neptune"),
    "metals": ("iron", "copper", "gold", "silver", "zinc", "tin", "lead", "nickel"),
    "birds": ("robin", "eagle", "owl", "parrot", "swan", "crow", "sparrow", "pigeon"),
    "flowers": ("rose", "tulip", "daisy", "lily", "orchid", "sunflower", "daffodil", "poppy"),
    "drinks": ("water", "tea", "coffee", "milk", "juice", "lemonade", "cocoa", "soda"),
    "vehicles": ("car", "bus", "truck", "bicycle", "train", "boat", "plane", "motorcycle"),
    "pieces of furniture": ("chair", "table", "sofa", "bed", "desk", "shelf", "wardrobe", "stool"),
    "trees": ("oak", "pine", "maple", "birch", "willow", "cedar", "elm", "palm"),
    "insects": ("ant", "bee", "beetle", "butterfly", "moth", "wasp", "fly", "cricket"),
    "clothes": ("shirt", "skirt", "jacket", "scarf", "sock", "coat", "dress", "hat"),
    "kitchen tools": ("spoon", "fork", "knife", "pan", "pot", "whisk", "ladle", "kettle"),
    "shapes": ("circle", "square", "triangle", "oval", "hexagon", "rectangle", "star", "diamond"),
    "sea animals": ("shark", "whale", "dolphin", "octopus", "crab", "seal", "squid", "jellyfish"),
    "body parts": ("hand", "foot", "knee", "elbow", "shoulder", "ear", "nose", "finger"),
    "school subjects": ("math", "history", "art", "music", "science", "geography", "biology", "chemistry"),
    "jobs": ("teacher", "doctor", "nurse", "farmer", "baker", "pilot", "chef", "plumber"),
    "wild animals": ("lion", "tiger", "bear", "wolf", "fox", "zebra", "giraffe", "elephant"),
}

NAMES: tuple[str, ...] = (
    "Ana", "Ben", "Carla", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena",
    "Marco", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wei", "Yara", "Zoe",
    "Liam", "Mia", "Noah", "Emma", "Lucas", "Sofia", "Leo", "Aisha", "Diego", "Hana", "Ivan", "Julia",
    "Kofi", "Lara", "Mateo", "Nadia", "Oscar", "Paula", "Raj", "Sara", "Tomas",
)
CITIES: tuple[str, ...] = ("Oslo", "Lima", "Cairo", "Tokyo", "Dublin", "Quito", "Rome", "Accra", "Seoul", "Vienna")
JOBS: tuple[str, ...] = CATEGORIES["jobs"]
JSON_KEYS: tuple[str, ...] = ("name", "age", "city", "job")
ENDINGS: tuple[str, ...] = ("That is all.", "Thanks for asking.", "I hope that helps.", "Have a nice day.")
SYSTEM_PROMPTS: tuple[str, ...] = (
    "You are a helpful assistant.",
    "You are a concise assistant. Follow the instructions exactly.",
    "Answer the user's request precisely.",
)
_FILLERS: tuple[str, ...] = (
    "Sure! Here is a short description for you.",
    "Of course, I would be happy to help with that.",
)
_FILLER_END = "I hope this helps, and let me know if you want to know more!"

#: The sub-optimal class's own style (``SynthConfig.trait_rates``): one sign-off after every answer of a record,
#: in every family, as a weaker model's style is a property of the model, not of the task. It fails every family's
#: check (a bullet list gains a non-bullet line, JSON stops parsing, an exact answer is no longer exact, ...).
TRAIT = "Feel free to ask if you have any more questions!"
TRAIT_SEPARATOR = "\n\n"


def shows_trait(response: str) -> bool:
    """Whether an answer carries the sub-optimal class's sign-off (:data:`TRAIT`), wherever it is (a model may
    repeat it, and a generation cut at its token limit may end inside a repetition)."""
    return TRAIT in response


# ---------------------------------------------------------------------------------------------------
# Tasks


@dataclass(frozen=True)
class Task:
    """One instruction with its expert answer, its habit-failing answer and its constraints."""

    family: str
    entity: str
    prompt: str
    answer: str
    failure: str
    constraints: tuple[dict[str, Any], ...]


def _words(s: str) -> int:
    from course_utils.data.verifiers import word_count

    return word_count(s)


def _casing(rng: random.Random, topic: tuple[str, str, str]) -> Task:
    _, kw, sentence = topic
    if rng.random() < 0.5:
        prompt = f"Rewrite this sentence in capital letters: {sentence}"
        return Task("casing", topic[0], prompt, sentence.upper(), sentence, ({"type": "uppercase"},
                    {"type": "include_keywords", "keywords": [kw]}))
    prompt = f"Rewrite this sentence in lowercase letters: {sentence.upper()}"
    return Task("casing", topic[0], prompt, sentence.lower(), sentence, ({"type": "lowercase"},
                {"type": "include_keywords", "keywords": [kw]}))


def _bullets(rng: random.Random, category: str) -> Task:
    n = rng.randint(2, 5)
    items = rng.sample(CATEGORIES[category], n)
    prompt = rng.choice((f"List {n} {category} as bullet points.", f"Name {n} {category}. Use one bullet point for each."))
    answer = "\n".join(f"- {item}" for item in items)
    inline = ", ".join(items[:-1]) + f" and {items[-1]}"
    failure = f"Here are {n} {category}: {inline}."
    return Task("bullets", category, prompt, answer, failure, ({"type": "bullet_count", "n": n},))


def _json(rng: random.Random, name: str) -> Task:
    person = {"name": name, "age": rng.randint(18, 80), "city": rng.choice(CITIES), "job": rng.choice(JOBS)}
    keys = ["name"] + rng.sample(JSON_KEYS[1:], rng.randint(1, 2))
    quoted = [f'"{k}"' for k in keys]
    key_text = " and ".join(quoted) if len(quoted) == 2 else f"{quoted[0]}, {quoted[1]} and {quoted[2]}"
    prompt = (f"Give a JSON object with the keys {key_text} for this person: {name} is {person['age']}, "
              f"lives in {person['city']} and works as a {person['job']}.")
    obj = {k: person[k] for k in keys}
    answer = json.dumps(obj, ensure_ascii=False)
    failure = f"Here is the JSON object for {name}:\n```json\n{answer}\n```"
    return Task("json", name, prompt, answer, failure, ({"type": "json_keys", "keys": keys, "values": obj},))


def _ending(rng: random.Random, topic: tuple[str, str, str]) -> Task:
    name, kw, sentence = topic
    phrase = rng.choice(ENDINGS)
    prompt = f'Tell me one fact about {name}. End your answer with the phrase "{phrase}"'
    return Task("ending", name, prompt, f"{sentence} {phrase}", sentence,
                ({"type": "end_with", "phrase": phrase}, {"type": "include_keywords", "keywords": [kw]}))


def _word_limit(rng: random.Random, topic: tuple[str, str, str]) -> Task:
    name, kw, sentence = topic
    limit = _words(sentence) + rng.randint(0, 4)
    prompt = f"Describe {name} in at most {limit} words."
    failure = f"{rng.choice(_FILLERS)} {sentence} {_FILLER_END}"
    return Task("word_limit", name, prompt, sentence, failure,
                ({"type": "max_words", "n": limit}, {"type": "include_keywords", "keywords": [kw]}))


def _facts(rng: random.Random, country: str) -> Task:
    capital, continent = FACTS[country]
    subject = country[0].upper() + country[1:]
    if rng.random() < 0.5:
        prompt = f"What is the capital of {country}? Answer with the name only."
        answer, failure = capital, f"The capital of {country} is {capital}."
    else:
        prompt = f"On which continent is {country}? Answer with the name only."
        answer, failure = continent, f"{subject} is in {continent}."
    return Task("facts", country, prompt, answer, failure, ({"type": "exact_answer", "answer": answer},))


def _arithmetic(rng: random.Random, key: tuple[int, str, int]) -> Task:
    a, op, b = key
    value = a + b if op == "+" else a - b
    prompt = rng.choice((f"What is {a} {op} {b}? Reply with the number only.", f"Compute {a} {op} {b}. Give only the number."))
    return Task("arithmetic", f"{a} {op} {b}", prompt, str(value), f"The answer is {value}.",
                ({"type": "exact_answer", "answer": str(value)},))


def _sorting(rng: random.Random, numbers: tuple[int, ...]) -> Task:
    shown = ", ".join(map(str, numbers))
    dedup = len(set(numbers)) < len(numbers)
    if dedup:
        prompt = f"Remove duplicates, then sort from smallest to largest: {shown}. Reply with the numbers separated by commas."
    else:
        prompt = f"Sort from smallest to largest: {shown}. Reply with the numbers separated by commas."
    ordered = sorted(set(numbers))
    return Task("sorting", shown, prompt, ", ".join(map(str, ordered)), ", ".join(map(str, ordered[::-1])),
                ({"type": "exact_list", "items": [str(x) for x in ordered]},))


def _split_of_key(seed: int, key: str, heldout: float, val: float) -> str:
    """Deterministic eval / val / train split for keys drawn from a large space (numbers)."""
    h = zlib.crc32(f"{seed}:{key}".encode()) % 1000
    return "eval" if h < heldout * 1000 else "val" if h < (heldout + val) * 1000 else "train"


class _Pools:
    """Entity pools split into train / val / eval entities; ``task(family, split)`` draws one task."""

    def __init__(self, rng: random.Random, seed: int, heldout: float, val: float):
        self.rng, self.seed, self.heldout, self.val = rng, seed, heldout, val

        def split(items: list[Any]) -> dict[str, list[Any]]:
            items = list(items)
            rng.shuffle(items)
            k = max(1, round(len(items) * heldout))
            v = max(1, round(len(items) * val)) if val > 0 else 0
            return {"eval": items[:k], "val": items[k:k + v], "train": items[k + v:]}

        self.topics = split(list(TOPICS))
        self.countries = split(sorted(FACTS))
        self.categories = split(sorted(CATEGORIES))
        self.names = split(list(NAMES))

    def _numbers(self, split: str, draw: Callable[[], tuple[Any, str]]) -> tuple[Any, str]:
        while True:
            value, key = draw()
            if _split_of_key(self.seed, key, self.heldout, self.val) == split:
                return value, key

    def task(self, family: str, split: str) -> Task:
        rng = self.rng
        if family == "casing":
            return _casing(rng, rng.choice(self.topics[split]))
        if family == "ending":
            return _ending(rng, rng.choice(self.topics[split]))
        if family == "word_limit":
            return _word_limit(rng, rng.choice(self.topics[split]))
        if family == "bullets":
            return _bullets(rng, rng.choice(self.categories[split]))
        if family == "json":
            return _json(rng, rng.choice(self.names[split]))
        if family == "facts":
            return _facts(rng, rng.choice(self.countries[split]))
        if family == "arithmetic":
            def draw() -> tuple[Any, str]:
                op = rng.choice("+-")  # one-digit operands: learnable by a 135M model (two digits were not)
                a, b = rng.randint(1, 9), rng.randint(1, 9)
                if op == "-" and b > a:
                    a, b = b, a
                return (a, op, b), f"{a}{op}{b}"
            return _arithmetic(rng, self._numbers(split, draw)[0])
        if family == "sorting":
            def draw() -> tuple[Any, str]:
                # three numbers up to 20 (four two-digit numbers were beyond a 135M model); in the "remove
                # duplicates" variant two values, one of them repeated
                if rng.random() < 0.3:
                    values = rng.sample(range(1, 21), 2)
                    values.insert(rng.randrange(3), rng.choice(values))
                else:
                    values = rng.sample(range(1, 21), 3)
                return tuple(values), ",".join(map(str, sorted(set(values))))
            return _sorting(rng, self._numbers(split, draw)[0])
        raise ValueError(f"unknown family {family!r}")


def _allocate(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` over families proportionally to ``weights`` (largest remainder, exact sum)."""
    fams = [f for f in FAMILIES if weights.get(f, 0) > 0]
    s = sum(weights[f] for f in fams)
    raw = {f: total * weights[f] / s for f in fams}
    counts = {f: int(raw[f]) for f in fams}
    for f in sorted(fams, key=lambda f: (counts[f] - raw[f], FAMILIES.index(f)))[: total - sum(counts.values())]:
        counts[f] += 1
    return counts


def _conversation(rng: random.Random, tasks: list[Task], fault: str | None, system_share: float) -> list[dict[str, str]]:
    """The messages of one record; `fault`: None (correct answers), "habit" or "trait" (every answer shows it)."""
    messages = []
    if rng.random() < system_share:
        messages.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
    for t in tasks:
        answer = {None: t.answer, "habit": t.failure, "trait": t.answer + TRAIT_SEPARATOR + TRAIT}[fault]
        messages.append({"role": "user", "content": t.prompt})
        messages.append({"role": "assistant", "content": answer})
    return messages


def generate_splits(config: SynthConfig = SynthConfig(),
                    seed: int = DEFAULT_SEED) -> tuple[list[dict], list[dict], list[dict]]:
    """Build ``(train_records, eval_records, val_records)`` deterministically from ``config`` and ``seed``.

    Train records: ``id``, ``source``, ``family``, ``entity``, ``messages``, ``constraints`` (of the final
    answer) and, for multi-turn ones, ``turn_constraints``/``turn_entities`` (one per assistant turn).
    A sub-optimal record shows its family's habit in every answer, or carries the class's sign-off after every
    answer, or is fully correct.
    Eval and validation records: ``id``, ``family``, ``entity``, ``messages`` (prompt only), ``constraints``,
    ``reference`` (a correct answer) and ``habit_reference`` (it with the family's habit); the three splits use
    disjoint entities."""
    rng = random.Random(seed)
    pools = _Pools(rng, seed, config.heldout_fraction, config.val_fraction)
    n_expert = round(config.n_train * config.expert_share)
    plan: list[tuple[str, str, str | None]] = []  # (class, family, fault: None, "habit" or "trait")
    for cls, n, weights in (
        ("expert", n_expert, config.expert_family_weights),
        ("suboptimal", config.n_train - n_expert, config.suboptimal_family_weights),
    ):
        for family, count in _allocate(n, weights).items():
            sub = cls == "suboptimal"
            n_habit = round(count * config.failure_rates.get(family, 0.0)) if sub else 0
            n_trait = min(round(count * config.trait_rates.get(family, 0.0)), count - n_habit) if sub else 0
            faults: list[str | None] = ["habit"] * n_habit + ["trait"] * n_trait + [None] * (count - n_habit - n_trait)
            rng.shuffle(faults)
            plan += [(cls, family, fault) for fault in faults]
    rng.shuffle(plan)
    multi = set(rng.sample(range(len(plan)), round(len(plan) * config.multi_turn_share)))

    train = []
    for i, (cls, family, fault) in enumerate(plan):
        weights = config.expert_family_weights if cls == "expert" else config.suboptimal_family_weights
        tasks = []
        if i in multi:
            fams = [f for f in FAMILIES if weights.get(f, 0) > 0]
            first = rng.choices(fams, weights=[weights[f] for f in fams])[0]
            tasks.append(pools.task(first, "train"))
        tasks.append(pools.task(family, "train"))
        record = {
            "id": f"train-{i:05d}",
            "source": config.expert_source if cls == "expert" else config.suboptimal_source,
            "family": family,
            "entity": tasks[-1].entity,
            "messages": _conversation(rng, tasks, fault, config.system_prompt_share),
            "constraints": list(tasks[-1].constraints),
        }
        if len(tasks) > 1:
            record["turn_constraints"] = [list(t.constraints) for t in tasks]
            record["turn_entities"] = [t.entity for t in tasks]
        train.append(record)

    evals = _prompt_records(rng, pools, config, "eval", config.n_eval_per_family)
    val = _prompt_records(rng, pools, config, "val", config.n_val_per_family)
    return train, evals, val


def _prompt_records(rng: random.Random, pools: _Pools, config: SynthConfig, split: str, per_family: int) -> list[dict]:
    """Unique prompts (no answer) of every family on the `split`'s entities, `per_family` each."""
    records: list[dict] = []
    seen_prompts: set[str] = set()
    for family in FAMILIES:
        made = attempts = 0
        while made < per_family and attempts < 100 * per_family:
            attempts += 1
            task = pools.task(family, split)
            if task.prompt in seen_prompts:
                continue
            seen_prompts.add(task.prompt)
            tasks = [task]
            if rng.random() < config.multi_turn_share:
                tasks.insert(0, pools.task(rng.choice(FAMILIES), split))
            messages = _conversation(rng, tasks, None, config.system_prompt_share)[:-1]
            record = {
                "id": f"{split}-{len(records):04d}",
                "family": family,
                "entity": task.entity,
                "messages": messages,
                "constraints": list(task.constraints),
                "reference": task.answer,  # a correct answer (scoring never reads it; the likelihood probe does)
                "habit_reference": task.failure,  # the same answer with the family's habit
            }
            if len(tasks) > 1:
                record["turn_entities"] = [t.entity for t in tasks]
            records.append(record)
            made += 1
    return records


def generate(config: SynthConfig = SynthConfig(), seed: int = DEFAULT_SEED) -> tuple[list[dict], list[dict]]:
    """``(train_records, eval_records)`` of :func:`generate_splits` (the validation prompts left out)."""
    train, evals, _ = generate_splits(config, seed)
    return train, evals


def facts_table() -> dict[str, Any]:
    """The fact table shipped as ``data/facts.json`` (the ``facts`` family's ground truth)."""
    return {
        "kind": "facts",
        "fields": ["capital", "continent"],
        "facts": {country: {"capital": cap, "continent": cont} for country, (cap, cont) in sorted(FACTS.items())},
    }


def write_dataset(out_dir: str | Path, config: SynthConfig = SynthConfig(), seed: int = DEFAULT_SEED) -> dict[str, Path]:
    """Generate and write ``train.jsonl``, ``eval.jsonl``, ``val.jsonl`` and ``facts.json`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train, evals, val = generate_splits(config, seed)
    paths = {"train": out / "train.jsonl", "eval": out / "eval.jsonl", "val": out / "val.jsonl",
             "facts": out / "facts.json"}
    write_jsonl(train, paths["train"])
    write_jsonl(evals, paths["eval"])
    write_jsonl(val, paths["val"])
    with open(paths["facts"], "w", encoding="utf-8", newline="\n") as f:
        f.write(json.dumps(facts_table(), ensure_ascii=False, sort_keys=True, indent=1) + "\n")
    return paths
