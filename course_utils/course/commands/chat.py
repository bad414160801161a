"""``crlft chat``: streamed chat with the base model or a trained adapter, in 4 bits by default."""

from __future__ import annotations

import argparse
import sys

from course_utils.data.conditions import parse_condition
from course_utils.inference.generation import PRECISIONS, ChatSession, load_for_inference

CHAT_HELP = "commands: /condition NAME (expert, suboptimal, neutral), /reset, /quit"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``crlft chat``."""
    p = subparsers.add_parser(
        "chat",
        help="chat with the base model or a trained adapter, streamed, in 4 bits by default",
        description="Interactive chat (reads stdin line by line when it is not a terminal). " + CHAT_HELP,
    )
    p.add_argument("--adapter", help="directory of a trained LoRA adapter (with its tokenizer)")
    p.add_argument("--model", help="base model id or path (default: the profile's model)")
    p.add_argument("--precision", default="nf4", choices=PRECISIONS)
    p.add_argument("--merge", action="store_true", help="merge the adapter in fp32, then re-quantize")
    p.add_argument("--condition", default="expert", type=parse_condition,
                   help="expert, suboptimal or neutral ('none' is neutral: plain User:/Assistant:, as the SFT "
                        "baselines were trained)")
    p.add_argument("--system", help="optional system prompt")
    p.add_argument("--max-new-tokens", type=int, default=128)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the model, then answer each input line; ``/condition``, ``/reset``, ``/quit`` steer the session."""
    model, tokenizer = load_for_inference(args.adapter, model_id=args.model, precision=args.precision, merge=args.merge)
    session = ChatSession(model, tokenizer, args.condition, args.system, args.max_new_tokens)
    return chat_loop(session)


def chat_loop(session: ChatSession) -> int:
    """Read lines from stdin until EOF or ``/quit``; a prompt and a banner only on a terminal."""
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"crlft chat: condition={session.condition}. {CHAT_HELP}")
    while True:
        try:
            line = input("you> " if interactive else "").strip()
        except EOFError:
            break
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line == "/reset":
            session.reset()
            continue
        if line.startswith("/condition"):
            name = line.split(maxsplit=1)[1] if " " in line else "expert"
            try:
                session.condition = parse_condition(name)
            except ValueError as exc:
                print(exc)
                continue
            print(f"condition = {session.condition}")
            continue
        if interactive:
            print("bot> ", end="", flush=True)
        session.say(line)
    return 0
