"""Parse sentences with Link Grammar: run by the SYSTEM Python (Debian's
python3-link-grammar is built for it), not the project's virtual environment.

    /usr/bin/python3 bench/linkgrammar_parse.py < sentences.jsonl > results.jsonl

Each input line is a JSON string (one sentence); each output line is
{"words": N, "null": K, "timeout": bool}: N words as the parser split them
(without its wall markers), K the fewest words its best linkage must leave
out (0: the sentence parses whole). A sentence whose parse ran past the
parser's own time limit (MAX_PARSE_SECONDS) is reported with "timeout": true
and counts as not parsed. bench/model_quality.py calls this.
"""
from __future__ import annotations

import json
import sys

MAX_PARSE_SECONDS = 5


def main() -> int:
    try:
        import linkgrammar as lg
        import linkgrammar.clinkgrammar as clg
    except ImportError:
        print("bench/linkgrammar_parse.py: error: no linkgrammar module for this Python "
              "(apt-get install link-grammar python3-link-grammar; run it with /usr/bin/python3)",
              file=sys.stderr)
        return 2
    lg.ParseOptions(verbosity=0)
    dictionary = lg.Dictionary("en")
    options = lg.ParseOptions(min_null_count=0, max_null_count=250, verbosity=0)
    options.max_parse_time = MAX_PARSE_SECONDS
    for line in sys.stdin:
        text = json.loads(line)
        clg.parse_options_reset_resources(options._obj)
        sentence = lg.Sentence(text, dictionary, options)
        linkages = sentence.parse()
        linkage = next(iter(linkages), None)
        timeout = bool(clg.parse_options_timer_expired(options._obj))
        words = max(0, len(list(linkage.words())) - 2) if linkage is not None else len(text.split())
        null = sentence.null_count() if linkage is not None else words
        print(json.dumps({"words": words, "null": null, "timeout": timeout}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
