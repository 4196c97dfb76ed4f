// The jstext tool: Markdown and text utilities (see wit/jstext.wit).
//
// componentize-js maps each exported WIT function to the module export of
// the same name in camelCase. A WIT `result<T, string>` is returned by
// returning T, and its error by throwing the message.

export function markdownHeadings(markdown) {
  const headings = [];
  let fence = null;
  for (const line of markdown.split(/\r?\n/)) {
    const opener = /^\s{0,3}(`{3,}|~{3,})/.exec(line);
    if (opener) {
      if (fence === null) fence = opener[1][0];
      else if (opener[1][0] === fence) fence = null;
      continue;
    }
    if (fence !== null) continue;
    const match = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (match) {
      const text = match[2];
      headings.push({ level: match[1].length, text, anchor: anchor(text) });
    }
  }
  return headings;
}

// Keeps letters (of any script), digits, spaces, `_` and `-`, as GitHub does.
// (A letter is a character with case; StarlingMonkey's regular expressions
// have no \p{L}.)
function anchor(text) {
  const kept = [...text.toLowerCase()].filter(
    (c) => /[0-9\s_-]/.test(c) || c.toLowerCase() !== c.toUpperCase(),
  );
  return kept.join("").trim().replace(/\s/g, "-");
}

export function countMatches(text, pattern, ignoreCase) {
  let regex;
  try {
    regex = new RegExp(pattern, ignoreCase ? "giu" : "gu");
  } catch (error) {
    throw `invalid regular expression: ${error.message}`;
  }
  let count = 0;
  for (const _ of text.matchAll(regex)) count += 1;
  return count;
}

export function fillTemplate(template, values) {
  let table;
  try {
    table = JSON.parse(values);
  } catch (error) {
    throw `values is not JSON: ${error.message}`;
  }
  if (table === null || typeof table !== "object" || Array.isArray(table)) {
    throw "values must be a JSON object, such as {\"name\": \"Ada\"}";
  }
  return template.replace(/\{\{\s*([\w.-]+)\s*\}\}/g, (_, name) => {
    if (!Object.hasOwn(table, name)) {
      throw `no value for the placeholder {{${name}}}`;
    }
    const value = table[name];
    return typeof value === "string" ? value : JSON.stringify(value);
  });
}
