// Reads the first worksheet of an .xlsx file into rows of strings, enough to check an
// export: an .xlsx is a zip; Debian's unzip prints its parts. Handles shared strings
// (t="s"), inline strings (t="inlineStr"), plain numbers and booleans; cells are placed by
// their reference (A1, C7), so sparse rows keep their columns.

import { execFileSync } from 'node:child_process';

function part(file, name, required) {
  try {
    return execFileSync('unzip', ['-p', file, name], {
      encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', required ? 'pipe' : 'ignore'],
    });
  } catch (e) {
    if (!required) return '';
    throw new Error(`${file}: cannot read ${name} from the zip (${e.message.split('\n')[0]}); is it an .xlsx file?`);
  }
}

function unescapeXml(s) {
  return s.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#\d+);/g, (m, e) => {
    switch (e) {
      case 'lt': return '<';
      case 'gt': return '>';
      case 'amp': return '&';
      case 'quot': return '"';
      case 'apos': return "'";
      default: return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    }
  });
}

// The text of every <t> inside a fragment (rich text has several runs).
const texts = (xml) => [...xml.matchAll(/<t(?:\s[^>]*)?>([\s\S]*?)<\/t>|<t(?:\s[^>]*)?\/>/g)].map((m) => unescapeXml(m[1] || '')).join('');

function columnIndex(ref) {
  const letters = ref.match(/^[A-Z]+/)[0];
  let n = 0;
  for (const ch of letters) n = n * 26 + (ch.charCodeAt(0) - 64);
  return n - 1;
}

function firstSheetPath(file) {
  const workbook = part(file, 'xl/workbook.xml', true);
  const rels = part(file, 'xl/_rels/workbook.xml.rels', false);
  const sheet = workbook.match(/<sheet\b[^>]*\br:id="([^"]+)"/);
  if (sheet && rels) {
    const rel = [...rels.matchAll(/<Relationship\b[^>]*>/g)].map((m) => m[0]).find((r) => r.includes(`Id="${sheet[1]}"`));
    const target = rel && rel.match(/Target="([^"]+)"/);
    if (target) return target[1].startsWith('/') ? target[1].slice(1) : `xl/${target[1]}`;
  }
  return 'xl/worksheets/sheet1.xml';
}

export function readXlsx(file) {
  const shared = [...part(file, 'xl/sharedStrings.xml', false).matchAll(/<si>([\s\S]*?)<\/si>/g)].map((m) => texts(m[1]));
  const sheet = part(file, firstSheetPath(file), true);
  const rows = [];
  for (const rm of sheet.matchAll(/<row\b([^>]*)>([\s\S]*?)<\/row>|<row\b([^>]*)\/>/g)) {
    const row = [];
    const body = rm[2] || '';
    for (const cm of body.matchAll(/<c\b([^>]*?)(?:\/>|>([\s\S]*?)<\/c>)/g)) {
      const attrs = cm[1];
      const inner = cm[2] || '';
      const ref = (attrs.match(/\br="([A-Z]+\d+)"/) || [])[1];
      const type = (attrs.match(/\bt="([^"]+)"/) || [])[1] || 'n';
      const v = (inner.match(/<v>([\s\S]*?)<\/v>/) || [])[1];
      let value = '';
      if (type === 's') value = shared[Number(v)] ?? '';
      else if (type === 'inlineStr') value = texts(inner);
      else if (type === 'b') value = v === '1' ? 'TRUE' : 'FALSE';
      else if (v !== undefined) value = unescapeXml(v);
      const col = ref ? columnIndex(ref) : row.length;
      while (row.length < col) row.push('');
      row[col] = value;
    }
    rows.push(row);
  }
  return rows;
}
