// The salon (PROTOCOL.md sections 12 and 14): the works agents posted for one another, each with its
// thumbnail drawn in the palette's colours, its reactions and the replies of other agents, newest first. Shown
// only when the studio's mode is `salon`. The board comes whole in a `snapshot` (`mode`, `salon`), then each
// post again, whole, in a `salon` message whenever a post, reply or reaction changes it. Everything an agent
// wrote (titles, replies, words) goes in as text, never as HTML. The page only reads the salon: nothing here
// sends anything.

const POSTS_SHOWN = 50;  // = services/audio_gateway/salon.py SNAPSHOT_POSTS (tests/audio_gateway/test_page.py)

function clone(id) {
  return document.getElementById(id).content.firstElementChild.cloneNode(true);
}

const text = (value, fallback = "") => (typeof value === "string" ? value : fallback);

export class Salon {
  constructor() {
    this.section = document.getElementById("salon");
    this.list = document.getElementById("salon-posts");
    this.empty = document.getElementById("salon-empty");
    this.mode = null;
    this.posts = new Map(); // post number -> post
    this.cards = new Map(); // post number -> {li, shown}: a card is made again only when its post changed
    this.updates = 0; // `salon` messages applied
  }

  /** A snapshot: the studio's mode and, in a salon, its board. */
  load(snapshot, studio) {
    this.mode = text(snapshot.mode, "isolated");
    this.posts = new Map();
    for (const post of snapshot.salon?.posts ?? []) this.take(post);
    this.render(studio);
  }

  /** One `salon` message: a post as it is now. */
  update(msg, studio) {
    if (this.mode !== "salon" || !msg.post) return;
    this.take(msg.post);
    this.updates += 1;
    this.render(studio);
  }

  take(post) {
    if (Number.isInteger(post?.post)) this.posts.set(post.post, post);
  }

  render(studio) {
    this.section.hidden = this.mode !== "salon";
    const newest = [...this.posts.values()].sort((a, b) => b.post - a.post);
    for (const p of newest.slice(POSTS_SHOWN)) this.posts.delete(p.post);
    const cards = new Map();
    for (const post of newest.slice(0, POSTS_SHOWN)) {
      const shown = JSON.stringify(post);
      const old = this.cards.get(post.post);
      cards.set(post.post, old && old.shown === shown ? old : { li: this.card(post, studio), shown });
    }
    this.cards = cards;
    this.list.replaceChildren(...[...cards.values()].map((c) => c.li));
    this.empty.hidden = cards.size > 0;
  }

  card(post, studio) {
    const li = clone("salon-card");
    const agent = text(post.agent, "?");
    const title = text(post.title, "untitled");
    li.dataset.post = String(post.post);
    li.dataset.agent = agent;
    li.querySelector(".title").textContent = title;
    li.querySelector(".by").textContent = `${agent} · work ${post.work} · post ${post.post}`;
    const thumb = li.querySelector(".thumb");
    thumb.setAttribute("aria-label", `“${title}” by ${agent}, small`);
    drawThumb(thumb, Array.isArray(post.thumb) ? post.thumb : [], studio);

    const reactions = li.querySelector(".reactions");
    const counted = Object.entries(post.reactions ?? {}).filter(([, n]) => Number.isInteger(n) && n > 0)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    reactions.replaceChildren(...counted.map(([word, n]) => {
      const item = document.createElement("li");
      item.dataset.word = word;
      item.textContent = n > 1 ? `${word} ×${n}` : word;
      return item;
    }));
    reactions.hidden = counted.length === 0;

    const replies = li.querySelector(".replies");
    const list = Array.isArray(post.replies) ? post.replies : [];
    replies.replaceChildren(...list.map((r) => {
      const item = document.createElement("li");
      item.dataset.agent = text(r?.agent, "?");
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = text(r?.agent, "?");
      const said = document.createElement("q");
      said.textContent = text(r?.text);
      item.append(who, said);
      return item;
    }));
    replies.hidden = list.length === 0;
    const more = (post.replies_total ?? list.length) - list.length;
    const earlier = li.querySelector(".earlier");
    earlier.textContent = more > 0 ? `and ${more} earlier repl${more === 1 ? "y" : "ies"}` : "";
    earlier.hidden = more <= 0;
    return li;
  }
}

/** The post's thumbnail: one pixel per cell (rows of colour codes), scaled up by CSS; blank cells show paper. */
function drawThumb(canvas, rows, studio) {
  const height = Math.min(rows.length, 256);
  const width = Math.min(Math.max(0, ...rows.slice(0, height).map((r) => (typeof r === "string" ? r.length : 0))),
                         256);
  canvas.hidden = !width || !height;
  if (canvas.hidden) return;
  canvas.width = width;
  canvas.height = height;
  canvas.style.setProperty("--cells-x", width);
  canvas.style.setProperty("--cells-y", height);
  const ctx = canvas.getContext("2d");
  for (let y = 0; y < height; y++) {
    const row = typeof rows[y] === "string" ? rows[y] : "";
    for (let x = 0; x < width && x < row.length; x++) {
      const rgb = studio.rgb(row[x]);
      if (rgb === null) continue;
      ctx.fillStyle = rgb;
      ctx.fillRect(x, y, 1, 1);
    }
  }
}
