import { busContract } from "./bus.contract.js";
import { MemoryBus } from "./memory-bus.js";

busContract("memory", { distributed: false, create: async (options) => new MemoryBus(options) });
