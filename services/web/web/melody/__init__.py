"""Every song's tune: a melody composed from its finished lyrics (compose.py, with
syllables.py, prng.py and theory.py), learned from real folk songs (model.py reading
model.json, which tools/train_melody.py writes), written as a score (abc.py), a MIDI
file (midi.py) and the JSON API's document (document.py)."""
