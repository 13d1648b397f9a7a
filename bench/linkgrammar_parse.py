"""Parse sentences with Link Grammar: run by the SYSTEM Python (Debian's
python3-link-grammar is built for it), not the project's virtual environment.

    /usr/bin/python3 bench/linkgrammar_parse.py < sentences.jsonl > results.jsonl
    bench/linkgrammar_parse.py --smoke    # parses two sentences, prints their results

Run by another Python (the project's .venv), it runs itself again with
SYSTEM_PYTHON.

Each input line is a JSON string (one sentence); each output line is
{"words": N, "null": K, "timeout": bool}: N the sentence's words (split at
white space), K the fewest words its best linkage must leave out (0: the
sentence parses whole; N when it has no linkage). A sentence whose parse ran past the
parser's own time limit (MAX_PARSE_SECONDS) is reported with "timeout": true
and counts as not parsed. bench/model_quality.py calls this.
"""
from __future__ import annotations

import io
import json
import os
import sys

MAX_PARSE_SECONDS = 5
SYSTEM_PYTHON = "/usr/bin/python3"
SMOKE = ["The cat sat on the mat.", "While thou dost stir my for"]


def main(argv: list[str]) -> int:
    if argv not in ([], ["--smoke"]):
        print("usage: bench/linkgrammar_parse.py [--smoke] < sentences.jsonl", file=sys.stderr)
        return 2
    try:
        import linkgrammar as lg
        import linkgrammar.clinkgrammar as clg
    except ImportError:
        if os.path.realpath(sys.executable) != os.path.realpath(SYSTEM_PYTHON) and os.path.exists(SYSTEM_PYTHON):
            os.environ.setdefault("LC_ALL", "C.UTF-8")
            os.execv(SYSTEM_PYTHON, [SYSTEM_PYTHON, __file__, *argv])
        print("bench/linkgrammar_parse.py: error: no linkgrammar module for this Python "
              "(apt-get install link-grammar python3-link-grammar; run it with /usr/bin/python3)",
              file=sys.stderr)
        return 2
    lg.ParseOptions(verbosity=0)
    dictionary = lg.Dictionary("en")
    options = lg.ParseOptions(min_null_count=0, max_null_count=250, verbosity=0)
    options.max_parse_time = MAX_PARSE_SECONDS
    lines = io.StringIO("\n".join(json.dumps(s) for s in SMOKE)) if argv == ["--smoke"] else sys.stdin
    for line in lines:
        text = json.loads(line)
        clg.parse_options_reset_resources(options._obj)
        sentence = lg.Sentence(text, dictionary, options)
        try:
            linkage = next(iter(sentence.parse()), None)
            timeout = bool(clg.parse_options_timer_expired(options._obj))
        except lg.LG_TimerExhausted:
            linkage, timeout = None, True
        words = len(text.split())
        # Without a linkage (or past the time limit) every word counts as left out.
        null = sentence.null_count() if linkage is not None and not timeout else words
        print(json.dumps({"words": words, "null": null, "timeout": timeout}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
