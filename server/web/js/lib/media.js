// Live media in the page (docs/media.md): WebRTC sessions negotiated on the live channel. The
// node takes no trickle, so an offer goes once every ICE candidate is gathered (or after
// GATHER_MS, with what was gathered by then).

const GATHER_MS = 5_000;

function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      resolve();
    };
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, GATHER_MS);
  });
}

// A peer connection that receives a source's video and audio, shown by `video` once a track
// arrives.
export function receiver(video) {
  const pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver("video", { direction: "recvonly" });
  pc.addTransceiver("audio", { direction: "recvonly" });
  const stream = new MediaStream();
  pc.addEventListener("track", (event) => {
    stream.addTrack(event.track);
    video.srcObject = stream;
  });
  return pc;
}

// Offer `message` (`media_publish` or `media_watch`, without its sdp) for `pc` on the live
// channel; resolves with the node's `media_answer` once it is applied.
export async function negotiate(live, pc, message) {
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc);
  const answer = await live.request({ ...message, sdp: pc.localDescription.sdp }, "media_answer");
  await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  return answer;
}
