// Reading a run's .tar.gz input or output in the browser, to list its files and offer each for download.

const BLOCK = 512;
const decoder = new TextDecoder();

/** The bytes of a gzip'ed blob, decompressed by the browser. */
export async function gunzip(blob) {
  const stream = blob.stream().pipeThrough(new DecompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function text(bytes, start, length) {
  const field = bytes.subarray(start, start + length);
  const end = field.indexOf(0);
  return decoder.decode(end === -1 ? field : field.subarray(0, end));
}

function octal(bytes, start, length) {
  const raw = text(bytes, start, length).trim();
  return raw ? parseInt(raw, 8) : 0;
}

/** A pax header's ``path`` record, if any ("<len> path=<value>\n" records). */
function paxPath(data) {
  for (const line of decoder.decode(data).split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match) return match[1];
  }
  return null;
}

/** The regular files of a tar archive: [{name, size, data}] in archive order (ustar, GNU and pax names). */
export function untar(bytes) {
  const files = [];
  let offset = 0;
  let longName = null;
  while (offset + BLOCK <= bytes.length) {
    const header = bytes.subarray(offset, offset + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 48);
    const prefix = text(header, 345, 155);
    const data = bytes.subarray(offset + BLOCK, offset + BLOCK + size);
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L') { longName = text(data, 0, data.length); continue; }
    if (type === 'x') { longName = paxPath(data) || longName; continue; }
    if (type === 'g') continue;
    const name = longName || (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = null;
    if (type === '0' || type === '7') files.push({name: name.replace(/^\.\//, ''), size, data});
  }
  return files;
}
