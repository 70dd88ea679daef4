// Starter code and the Test tab's event templates.

export const STARTER_HANDLER = `import json


def lambda_handler(event, context):
    print("event:", json.dumps(event))
    return {
        "statusCode": 200,
        "body": json.dumps({"message": "Hello from rayo!"}),
    }
`;

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export const TEMPLATES = {
  'hello-world': () => ({ key1: 'value1', key2: 'value2', key3: 'value3' }),
  'apigateway-http-v2': () => ({
    version: '2.0',
    routeKey: 'GET /hello',
    rawPath: '/hello',
    rawQueryString: 'name=world',
    headers: { accept: '*/*', host: 'abc123.execute-api.us-east-1.amazonaws.com', 'user-agent': 'curl/8.0' },
    queryStringParameters: { name: 'world' },
    requestContext: {
      accountId: '000000000000',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      http: { method: 'GET', path: '/hello', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'curl/8.0' },
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      routeKey: 'GET /hello',
      stage: '$default',
      time: '12/Mar/2024:19:03:58 +0000',
      timeEpoch: 1710270238000,
    },
    isBase64Encoded: false,
  }),
  's3-put': () => ({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: 'us-east-1',
        eventTime: now(),
        eventName: 'ObjectCreated:Put',
        userIdentity: { principalId: 'EXAMPLE' },
        requestParameters: { sourceIPAddress: '127.0.0.1' },
        responseElements: { 'x-amz-request-id': 'EXAMPLE123456789', 'x-amz-id-2': 'EXAMPLE123/5678abcdefghijklambdaisawesome/mnopqrstuvwxyzABCDEFGH' },
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'testConfigRule',
          bucket: { name: 'example-bucket', ownerIdentity: { principalId: 'EXAMPLE' }, arn: 'arn:aws:s3:::example-bucket' },
          object: { key: 'test/key', size: 1024, eTag: '0123456789abcdef0123456789abcdef', sequencer: '0A1B2C3D4E5F678901' },
        },
      },
    ],
  }),
  'scheduled-event': () => ({
    version: '0',
    id: 'cdc73f9d-aea9-11e3-9d5a-835b769c0d9c',
    'detail-type': 'Scheduled Event',
    source: 'aws.events',
    account: '000000000000',
    time: now(),
    region: 'us-east-1',
    resources: ['arn:aws:events:us-east-1:000000000000:rule/my-schedule'],
    detail: {},
  }),
  sqs: () => ({
    Records: [
      {
        messageId: '059f36b4-87a3-44ab-83d2-661975830a7d',
        receiptHandle: 'AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a',
        body: 'Hello from SQS!',
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'AIDAIENQZJOLO23YVJ4VO',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
        },
        messageAttributes: {},
        md5OfBody: 'e4e68fb7bd0e697a0ae8f1bb342846b3',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:my-queue',
        awsRegion: 'us-east-1',
      },
    ],
  }),
};

export const TEMPLATE_LABELS = {
  'hello-world': 'hello-world',
  'apigateway-http-v2': 'API Gateway HTTP API (payload 2.0)',
  's3-put': 'S3 Put',
  'scheduled-event': 'Scheduled Event (EventBridge)',
  sqs: 'SQS',
};
