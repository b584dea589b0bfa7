import { type ConsumedRecord, type Consumption, DEAD_LETTER_HEADERS, KafkaLog } from "@parley/log";
import { logContract } from "@parley/log/contract";
import { kafkaLogOptions, testKafkaLog } from "@parley/log/testing";
import { uniqueName } from "@parley/testkit";

logContract("kafka", {
  create: async () => {
    const options = kafkaLogOptions();
    const log = await testKafkaLog(options);
    // The dead-letter topic is read as the topic of a second log; its consumer starts when first asked.
    const reader = new KafkaLog({ ...options, topic: options.deadLetterTopic });
    const letters: ConsumedRecord[] = [];
    let consumption: Promise<Consumption> | undefined;
    return {
      log,
      deadLetters: async () => {
        consumption ??= reader.consume({
          group: uniqueName("dlq-reader"),
          handler: async (records) => void letters.push(...records),
        });
        await consumption;
        return letters.map(({ value, headers }) => ({
          value,
          reason: headers[DEAD_LETTER_HEADERS.reason] ?? "",
          partition: Number(headers[DEAD_LETTER_HEADERS.partition]),
          offset: headers[DEAD_LETTER_HEADERS.offset] ?? "",
        }));
      },
      close: () => reader.close(),
    };
  },
});
