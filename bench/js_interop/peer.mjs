// A js-libp2p peer configured as docs/protocol.md 16.2 says: StrictNoSign, msgIdFn = sha256(data).
// Usage: node --import ./polyfill.mjs peer.mjs <trustmesh multiaddr> <hex of a record to publish> <seconds>
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { gossipsub } from '@chainsafe/libp2p-gossipsub'
import { multiaddr } from '@multiformats/multiaddr'
import { sha256 } from '@noble/hashes/sha256'

const [addr, recordHex, seconds] = process.argv.slice(2)
const TOPIC = 'trustmesh/records/1'
const node = await createLibp2p({
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping(),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictNoSign',
      msgIdFn: (msg) => sha256(msg.data),
      allowPublishToZeroTopicPeers: true,
      emitSelf: false,
    }),
  },
})
const hex = (b) => Buffer.from(b).toString('hex')
node.services.pubsub.addEventListener('message', (evt) => {
  const m = evt.detail
  console.log(JSON.stringify({ got: hex(sha256(m.data)), type: m.type, bytes: m.data.length }))
})
node.services.pubsub.addEventListener('gossipsub:message', (evt) => {
  console.log(JSON.stringify({ validated: hex(evt.detail.msgId) }))
})
node.services.pubsub.subscribe(TOPIC)
await node.dial(multiaddr(addr))
console.log(JSON.stringify({ me: node.peerId.toString(), connected: addr }))
const deadline = Date.now() + 1000 * Number(seconds)
let published = false
while (Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 250))
  const peers = node.services.pubsub.getSubscribers(TOPIC)
  if (!published && peers.length > 0 && recordHex) {
    const res = await node.services.pubsub.publish(TOPIC, Buffer.from(recordHex, 'hex'))
    console.log(JSON.stringify({ published: hex(sha256(Buffer.from(recordHex, 'hex'))), recipients: res.recipients.length }))
    published = true
  }
}
await node.stop()
