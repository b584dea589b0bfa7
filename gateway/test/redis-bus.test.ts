import { serviceEnv } from "@parley/testkit";
import { busContract } from "../src/bus/bus.contract.js";
import { RedisBus } from "../src/bus/redis-bus.js";

busContract("redis", {
  distributed: true,
  create: async (options) => {
    const bus = new RedisBus({ ...options, url: serviceEnv().redisUrl });
    await bus.connect();
    return bus;
  },
});
