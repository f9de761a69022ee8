// 评标工作台: the expert's workstation. Logs in with the expert's key, lists its seats, opens a
// room and follows it live; every act is signed here and waits for the node's ack.

import { errorText, onLangChange, t } from "/static/js/lib/i18n.js";
import { h, replace } from "/static/js/lib/dom.js";
import { api } from "/static/js/lib/api.js";
import { Live } from "/static/js/lib/live.js";
import { setLiveStatus, startPage } from "/static/js/lib/shell.js";
import { Room } from "/static/js/expert/room.js";
import { RoomPage } from "/static/js/expert/page.js";
import { Intercom } from "/static/js/expert/intercom.js";

function failed(root, err) {
  replace(root, h("p", { class: "error", role: "alert" }, errorText(err)));
}

async function main() {
  const session = await startPage({ page: "expert", titleKey: "expert.title", roles: ["expert"] });
  let room = null;
  let page = null;
  let intercom = null;
  const live = new Live({
    onStatus: (status) => {
      setLiveStatus(status);
      // Back after a drop: read the room again (an ack lost in the drop is read here, not resent).
      if (status === "live" && room?.view) {
        room.refresh().catch((err) => room.onError?.(err));
      }
    },
    onMessage: (message) => {
      if (message.type === "media_ended") {
        intercom?.ended(message);
      }
    },
  });
  const root = document.getElementById("workstation");
  let seats;
  try {
    seats = (await api("GET", "/api/evaluation/seats")).seats;
  } catch (err) {
    failed(root, err);
    return;
  }
  const seatsRoot = h("section", { class: "card seats-card" });
  const roomRoot = h("div", { class: "room-root" });
  replace(root, seatsRoot, roomRoot);

  const open = async (seat) => {
    room?.close();
    intercom?.stopAll();
    room = new Room({
      live,
      seat,
      expert: session.participant,
      onView: (view) => {
        seat.stage = view.stage;
        const badge = seatsRoot.querySelector(`[data-seat="${seats.indexOf(seat)}"]`);
        if (badge) {
          badge.textContent = view.stage ? t(`expert.stage.${view.stage}`) : "—";
        }
        page.render(view);
      },
      onEvent: (record) => page.logEvent(record),
    });
    intercom = new Intercom(live, room);
    page?.dispose();
    page = new RoomPage(roomRoot, room, [], intercom);
    try {
      await room.open();
    } catch (err) {
      failed(roomRoot, err);
    }
  };

  const showSeats = () => {
    if (!seats.length) {
      replace(seatsRoot, h("p", { class: "muted", "data-role": "no-seats" }, t("expert.seats.none")));
      return;
    }
    const items = seats.map((seat) => {
      const button = h("button", { type: "button", "data-tender": seat.tender, "data-lot": seat.lot }, t("expert.seats.open"));
      button.addEventListener("click", () => void open(seat));
      return h(
        "li",
        { class: "seat" },
        h("span", {}, t("expert.seats.seat", { tender: seat.tender, lot: seat.lot })),
        h("span", { class: "muted" }, t("expert.seats.where", { site: seat.site, workstation: seat.workstation })),
        h("span", { class: "badge", "data-seat": String(seats.indexOf(seat)) }, seat.stage ? t(`expert.stage.${seat.stage}`) : "—"),
        button,
      );
    });
    replace(seatsRoot, h("h2", {}, t("expert.seats.title")), h("ul", { class: "seats", "data-role": "seats" }, ...items));
  };

  // Another language: the same room, built again in it (what the feed showed is kept).
  onLangChange(() => {
    showSeats();
    if (room !== null && room.view !== null) {
      page.dispose();
      intercom.relabel();
      page = new RoomPage(roomRoot, room, page.records, intercom);
      page.render(room.view);
    }
  });
  showSeats();
  if (seats.length === 1) {
    await open(seats[0]);
  }
}

main().catch((err) => {
  const root = document.getElementById("workstation");
  if (root) {
    failed(root, err);
  }
});
