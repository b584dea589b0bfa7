import { busContract } from "./bus.contract.js";
import { MemoryBus } from "./memory-bus.js";

busContract("memory", { distributed: false, reseedMargin: 0, create: async (options) => new MemoryBus(options) });
