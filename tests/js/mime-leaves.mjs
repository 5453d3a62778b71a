// The attachments two JavaScript MIME parsers show for each message file named on the
// command line (postal-mime, used by webmail and Cloudflare's Email Workers; mailparser,
// Nodemailer's), printed as one JSON object: {file: {"postal-mime": [...], "mailparser":
// [...]}}, each attachment as [media type, "", [file name], []], the corpus's leaf shape.
// Their APIs give the attachments a person is offered, not the MIME tree: text bodies
// shown inline are not listed, and no transfer encoding or charset is given.
import { readFile } from "node:fs/promises";
import PostalMime from "postal-mime";
import { simpleParser } from "mailparser";

const leaf = (type, name) => [(type || "").toLowerCase(), "", name ? [name] : [], []];

async function read(path) {
  const raw = await readFile(path);
  const postal = await PostalMime.parse(raw);
  const parsed = await simpleParser(raw, { skipHtmlToText: true, skipTextToHtml: true,
                                          skipTextLinks: true, skipImageLinks: true });
  return {
    "postal-mime": postal.attachments.map((a) => leaf(a.mimeType, a.filename)),
    "mailparser": parsed.attachments.map((a) => leaf(a.contentType, a.filename)),
  };
}

const out = {};
for (const path of process.argv.slice(2)) {
  try {
    out[path] = await read(path);
  } catch (error) {
    out[path] = { error: String(error) };
  }
}
process.stdout.write(JSON.stringify(out) + "\n");
