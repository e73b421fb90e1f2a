// Validates KEDA resources against KEDA's CRD schema (@kubernetes-models/keda, pinned in package.json).
// Input on stdin: a JSON array of manifests (tests/deploy passes `kubectl kustomize` output); exit 1 with
// one line per invalid resource.
import { ScaledObject, TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1";

const models = { ScaledObject, TriggerAuthentication };
const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const docs = JSON.parse(Buffer.concat(chunks).toString("utf8"));
let failed = 0;
let checked = 0;
for (const doc of docs) {
  if (doc?.apiVersion !== "keda.sh/v1alpha1") continue;
  const Model = models[doc.kind];
  if (!Model) {
    console.log(`${doc.kind}/${doc.metadata?.name}: no KEDA model for this kind`);
    failed++;
    continue;
  }
  try {
    new Model(doc).validate();
    checked++;
  } catch (err) {
    console.log(`${doc.kind}/${doc.metadata?.name}: ${err.message}`);
    failed++;
  }
}
console.log(JSON.stringify({ checked, failed }));
process.exit(failed ? 1 : 0);
