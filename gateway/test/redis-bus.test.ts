import { serviceEnv } from "@parley/testkit";
import { busContract } from "../src/bus/bus.contract.js";
import { DEFAULT_RESEED_MARGIN, RedisBus } from "../src/bus/redis-bus.js";

busContract("redis", {
  distributed: true,
  reseedMargin: DEFAULT_RESEED_MARGIN,
  create: async (options) => {
    const bus = new RedisBus({ ...options, url: serviceEnv().redisUrl });
    await bus.connect();
    return bus;
  },
});
