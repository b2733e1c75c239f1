/** shmbus/bridge: relay local channels over NATS so that they span hosts (docs/bridge.md). */
export { Bridge } from './bridge.js';
export type { BridgeOptions, BridgeTlsOptions, BridgeEvent, BridgeChannelSpec } from './bridge.js';
export type { BridgeChannel, BridgeDirection, BridgeKind } from './spec.js';
export { parseBridgeStatus, bridgeSummary } from './status.js';
export type { BridgeStatus, BridgeChannelStatus, BridgeFlowStatus } from './status.js';
