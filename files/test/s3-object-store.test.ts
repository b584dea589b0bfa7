import { serviceEnv, uniqueName } from "@parley/testkit";
import { objectStoreContract } from "../src/object-store.contract.js";
import { S3ObjectStore } from "../src/s3-object-store.js";

// The local SeaweedFS that scripts/services.sh runs: a real S3 server, its bucket shared by tests, each store of the
// suite under a prefix of its own.
objectStoreContract("S3 (SeaweedFS)", {
  async create(now) {
    const { endpoint, bucket, region, accessKeyId, secretAccessKey } = serviceEnv().s3;
    const store = new S3ObjectStore({
      endpoint,
      bucket,
      region,
      credentials: { accessKeyId, secretAccessKey },
      prefix: `${uniqueName("contract")}/`,
      now,
    });
    return { store, fetch: (url, init) => fetch(url, init) };
  },
});
