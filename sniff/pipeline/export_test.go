package pipeline

// FlowSlot exposes flowSlot to the external tests.
var FlowSlot = flowSlot
