import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CallbridgeStack } from './stack';

const app = new App();
new CallbridgeStack(app, app.node.tryGetContext('stackName') ?? 'Callbridge', {
  description: 'Callbridge: phone-system call events pushed to Kommo agents over WebSockets',
});
// cdk-nag 3 runs as a policy-validation plugin: synth fails on any unacknowledged finding.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
