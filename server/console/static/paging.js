// A table body filled page by page from a List call (AIP-158): `load(true)` starts over,
// `load(false)` appends the next page; the "more" button shows while the server has more.

import * as api from "./api.js";
import { clear, el } from "./dom.js";

/**
 * body, more, problem: the <tbody>, the "more" button and the error line. path and field: the list
 * call and the repeated field of its answer. row(item) makes a <tr>; empty is the text of an empty
 * table (over `columns` cells); what names the items in an error; query() adds filters to every page's call.
 */
export function pagedRows({ body, more, problem, path, field, row, empty, columns, what, signal, pageSize = 50,
  query = () => ({}) }) {
  let nextPageToken = "";

  async function load(fresh) {
    problem.textContent = "";
    try {
      const page = await api.get(path, { ...query(), pageSize, pageToken: fresh ? "" : nextPageToken }, signal);
      if (fresh) clear(body);
      for (const item of page[field] || []) body.append(row(item));
      if (!body.children.length) body.append(el("tr", {}, el("td", { colspan: columns, class: "muted", text: empty })));
      nextPageToken = page.nextPageToken || "";
      more.hidden = !nextPageToken;
    } catch (error) {
      if (error.name !== "AbortError") problem.textContent = `The ${what} could not be loaded: ${error.message}`;
    }
  }

  more.addEventListener("click", () => load(false));
  return load;
}
