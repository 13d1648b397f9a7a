// Billion Songs: the song's tune. Fetches the melody (the JSON API), draws its score
// with abcjs, plays it with Web Audio and lights the word being sung. A progressive
// enhancement: without this file the song page is its lyrics, as always.
(function () {
  "use strict";

  var WORD = /[\p{L}\p{N}]+(?:['\u2019][\p{L}\p{N}]+)*/gu;  // web/melody/syllables.py's words

  // The lyrics' own text, each sung word in a span (the melody's words, in order;
  // label lines such as "Chorus:" are not sung and stay plain text).
  function wrapWords(lyrics, words) {
    var text = lyrics.textContent, spans = [], fragment = document.createDocumentFragment();
    var at = 0, next = 0, match;
    WORD.lastIndex = 0;
    while ((match = WORD.exec(text)) !== null && next < words.length) {
      if (match[0] !== words[next].text) continue;
      fragment.appendChild(document.createTextNode(text.slice(at, match.index)));
      var span = document.createElement("span");
      span.className = "lyric-word";
      span.setAttribute("data-word", String(next));
      span.textContent = match[0];
      fragment.appendChild(span);
      spans.push(span);
      at = match.index + match[0].length;
      next += 1;
    }
    if (spans.length !== words.length) return null;  // not the text the melody was made from
    fragment.appendChild(document.createTextNode(text.slice(at)));
    lyrics.textContent = "";
    lyrics.appendChild(fragment);
    return spans;
  }

  // abcjs writes inline styles with setAttribute("style", ...), which the site's CSP
  // (style-src 'self', no 'unsafe-inline') refuses, while the same declarations set
  // through the CSSOM are allowed; and it puts a <style> of user-select rules for
  // dragging notes (off here) into the SVG, which the CSP refuses too. So while abcjs
  // draws (synchronously), a style attribute goes to element.style and that <style>
  // becomes an inert <metadata>; nothing else changes.
  function withoutInlineStyles(draw) {
    var proto = Element.prototype, setAttribute = proto.setAttribute, setAttributeNS = proto.setAttributeNS;
    var createElementNS = Document.prototype.createElementNS;
    proto.setAttribute = function (name, value) {
      if (String(name).toLowerCase() === "style") { this.style.cssText = String(value); return undefined; }
      return setAttribute.call(this, name, value);
    };
    proto.setAttributeNS = function (namespace, name, value) {
      if (!namespace && String(name).toLowerCase() === "style") { this.style.cssText = String(value); return undefined; }
      return setAttributeNS.call(this, namespace, name, value);
    };
    Document.prototype.createElementNS = function (namespace, name) {
      return createElementNS.call(this, namespace, name === "style" ? "metadata" : name);
    };
    try {
      return draw();
    } finally {
      proto.setAttribute = setAttribute;
      proto.setAttributeNS = setAttributeNS;
      Document.prototype.createElementNS = createElementNS;
    }
  }

  function frequency(pitch) { return 440 * Math.pow(2, (pitch - 69) / 12); }

  function setup(section) {
    var lyrics = document.querySelector(".lyrics");
    var button = section.querySelector("[data-melody-play]");
    var label = section.querySelector("[data-melody-label]");
    var icon = section.querySelector("[data-melody-icon]");
    var score = section.querySelector("[data-melody-score]");
    var about = section.querySelector("[data-melody-about]");

    fetch(section.getAttribute("data-melody-src"), { credentials: "omit" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (melody) {
        if (!melody || !melody.notes.length || !lyrics) return;
        var spans = wrapWords(lyrics, melody.words);
        if (!spans) return;
        about.textContent = melody.key + " \u00b7 " + melody.metre + " \u00b7 \u2669 = " + Math.round(melody.tempo_bpm);
        section.hidden = false;
        var heads = [];
        if (window.ABCJS) {
          withoutInlineStyles(function () {
            // the page has the title already: the score is drawn without its T: line
            window.ABCJS.renderAbc(score, melody.abc.replace(/^T:.*\n/m, ""),
                                   { responsive: "resize", add_classes: true, paddingleft: 0, paddingright: 0 });
          });
          heads = score.querySelectorAll(".abcjs-note");
          if (heads.length !== melody.notes.length) heads = [];  // only when note i is drawn as head i
        }
        section.setAttribute("data-melody-ready", "true");
        new Player(section, melody, spans, heads, button, label, icon);
      })
      .catch(function () {});
  }

  function Player(section, melody, spans, heads, button, label, icon) {
    var self = this;
    this.section = section;
    this.melody = melody;
    this.spans = spans;
    this.heads = heads;
    this.label = label;
    this.icon = icon;
    this.context = null;
    button.addEventListener("click", function () { self.toggle(); });
    this.button = button;
  }

  Player.prototype.show = function (playing) {
    this.label.textContent = playing ? "Pause" : "Play";
    this.button.setAttribute("aria-pressed", playing ? "true" : "false");
    this.icon.setAttribute("d", playing ? "M7 5h4v14H7zM13 5h4v14h-4z" : "M8 5v14l11-7z");
    this.section.setAttribute("data-playing", playing ? "true" : "false");
  };

  Player.prototype.toggle = function () {
    var self = this;
    if (!this.context) {
      this.start();
    } else if (this.context.state === "running") {
      this.context.suspend().then(function () { self.show(false); });
    } else {
      this.context.resume().then(function () { self.show(true); self.frame(); });
    }
  };

  Player.prototype.start = function () {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    var self = this, context = new Context(), melody = this.melody;
    var perQuarter = 60 / melody.tempo_bpm;
    var master = context.createGain();
    master.gain.value = 0.25;
    master.connect(context.destination);
    this.context = context;
    this.origin = context.currentTime + 0.15;
    this.perQuarter = perQuarter;
    this.next = 0;       // the next note to light
    this.lit = -1;       // the word lit now
    context.onstatechange = function () { self.section.setAttribute("data-audio", context.state); };
    melody.notes.forEach(function (note) {
      var start = self.origin + note.onset * perQuarter;
      var end = start + Math.max(0.06, note.duration * perQuarter * 0.94);
      var oscillator = context.createOscillator(), gain = context.createGain();
      oscillator.type = "triangle";
      oscillator.frequency.value = frequency(note.pitch);
      gain.gain.setValueAtTime(0, start);
      gain.gain.linearRampToValueAtTime(note.strong_beat ? 0.9 : 0.75, start + 0.02);
      gain.gain.linearRampToValueAtTime(0.5, Math.max(start + 0.03, end - 0.04));
      gain.gain.linearRampToValueAtTime(0, end);
      oscillator.connect(gain);
      gain.connect(master);
      oscillator.start(start);
      oscillator.stop(end + 0.02);
    });
    this.section.setAttribute("data-audio", context.state);
    this.show(true);
    context.resume().then(function () { self.frame(); });
  };

  // Light every note's word in order as its time comes: a slow frame steps through the
  // words it passed one by one, never skipping one.
  Player.prototype.frame = function () {
    var self = this, context = this.context;
    if (!context || context.state !== "running") return;
    var now = (context.currentTime - this.origin) / this.perQuarter;
    var notes = this.melody.notes;
    while (this.next < notes.length && notes[this.next].onset <= now) {
      this.light(this.next);
      this.next += 1;
    }
    if (now >= this.melody.length) {
      this.finish();
      return;
    }
    window.requestAnimationFrame(function () { self.frame(); });
  };

  Player.prototype.light = function (index) {
    var note = this.melody.notes[index];
    if (this.heads.length) {
      if (index > 0) this.heads[index - 1].classList.remove("is-sung-note");
      this.heads[index].classList.add("is-sung-note");
    }
    if (note.word === this.lit) return;
    if (this.lit >= 0) this.spans[this.lit].classList.remove("is-sung");
    this.spans[note.word].classList.add("is-sung");
    this.lit = note.word;
  };

  Player.prototype.finish = function () {
    if (this.lit >= 0) this.spans[this.lit].classList.remove("is-sung");
    if (this.heads.length) this.heads[this.heads.length - 1].classList.remove("is-sung-note");
    var context = this.context;
    this.context = null;
    this.lit = -1;
    this.show(false);
    context.close().catch(function () {});
  };

  document.addEventListener("DOMContentLoaded", function () {
    var section = document.querySelector("[data-melody-src]");
    if (section && window.fetch && window.Promise) setup(section);
  });
})();
