// 评标工作台: the expert's workstation. Logs in with the expert's key, lists its seats, opens a
// room and follows it live; every act is signed here and waits for the node's ack.

import { errorText, t } from "/static/js/lib/i18n.js";
import { h, replace } from "/static/js/lib/dom.js";
import { api } from "/static/js/lib/api.js";
import { Live } from "/static/js/lib/live.js";
import { setLiveStatus, startPage } from "/static/js/lib/shell.js";
import { Room } from "/static/js/expert/room.js";
import { RoomPage } from "/static/js/expert/page.js";

async function main() {
  const session = await startPage({ page: "expert", titleKey: "expert.title", roles: ["expert"] });
  const live = new Live({ onStatus: setLiveStatus });
  const root = document.getElementById("workstation");
  let seats;
  try {
    seats = (await api("GET", "/api/evaluation/seats")).seats;
  } catch (err) {
    replace(root, h("p", { class: "error", role: "alert" }, errorText(err)));
    return;
  }
  if (!seats.length) {
    replace(root, h("p", { class: "muted", "data-role": "no-seats" }, t("expert.seats.none")));
    return;
  }
  let current = null;
  const roomRoot = h("div", { class: "room-root" });
  const open = async (seat) => {
    current?.close();
    const room = new Room({
      live,
      seat,
      expert: session.participant,
      onView: (view) => page.render(view),
      onEvent: (record) => page.logEvent(record),
    });
    const page = new RoomPage(roomRoot, room);
    current = room;
    try {
      await room.open();
    } catch (err) {
      replace(roomRoot, h("p", { class: "error", role: "alert" }, errorText(err)));
    }
  };
  const list = h(
    "ul",
    { class: "seats", "data-role": "seats" },
    ...seats.map((seat) => {
      const button = h(
        "button",
        { type: "button", "data-tender": seat.tender, "data-lot": seat.lot },
        t("expert.seats.open"),
      );
      button.addEventListener("click", () => void open(seat));
      return h(
        "li",
        { class: "seat" },
        h("span", {}, t("expert.seats.seat", { tender: seat.tender, lot: seat.lot })),
        h("span", { class: "muted" }, t("expert.seats.where", { site: seat.site, workstation: seat.workstation })),
        h("span", { class: "badge" }, seat.stage ? t(`expert.stage.${seat.stage}`) : "—"),
        button,
      );
    }),
  );
  replace(root, h("section", { class: "card seats-card" }, h("h2", {}, t("expert.seats.title")), list), roomRoot);
  if (seats.length === 1) {
    await open(seats[0]);
  }
}

main().catch((err) => {
  const root = document.getElementById("workstation");
  if (root) {
    replace(root, h("p", { class: "error", role: "alert" }, errorText(err)));
  }
});
